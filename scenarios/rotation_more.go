package scenarios

// rotationScenarios is this file's group of the catalogue (see catalogue.go).
var rotationScenarios = []Scenario{}
