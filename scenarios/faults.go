package scenarios

// faultScenarios is this file's group of the catalogue (see catalogue.go).
var faultScenarios = []Scenario{}
