package scenarios

// secretSyncScenarios is this file's group of the catalogue (see catalogue.go).
var secretSyncScenarios = []Scenario{}
