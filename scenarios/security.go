package scenarios

// securityScenarios is this file's group of the catalogue (see catalogue.go).
var securityScenarios = []Scenario{}
