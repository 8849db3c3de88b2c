package scenarios

// doctorScenarios is this file's group of the catalogue (see catalogue.go).
var doctorScenarios = []Scenario{}
