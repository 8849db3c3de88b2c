package scenarios

// compatScenarios is this file's group of the catalogue (see catalogue.go).
var compatScenarios = []Scenario{}
