// Package clientstest drives the emulator with Azure clients nobody on this
// project wrote: Debian's python3-azure (azure-identity, azure-keyvault-*) and
// Debian's azure-cli. It holds tests only; see docs/emulator.md, "Clients".
package clientstest
