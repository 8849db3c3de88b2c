package scenarios

// syncScenarios is this file's group of the catalogue (see catalogue.go).
var syncScenarios = []Scenario{}
