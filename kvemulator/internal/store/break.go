package store

import "os"

// BreakIgnoreStateDirEnv, set to "1" in the emulator's environment, breaks
// it on purpose: Load ignores the state saved in --state-dir (Config.StateDir)
// and the emulator starts from its seed again, as if the directory were not
// read on start, so every version, soft-deleted object and access-policy
// change made since is lost across a restart. It exists only for the
// mutation test of scenario faults/emulator-restart-persists
// (scenarios/target/local), which runs the emulator in its own process and
// sets the variable just before a restart, so it is read on every Load, not
// once at start-up. Never set it outside that test.
const BreakIgnoreStateDirEnv = "KVCSI_BREAK_EMULATOR_IGNORE_STATE_DIR"

func breakIgnoreStateDir() bool { return os.Getenv(BreakIgnoreStateDirEnv) == "1" }
