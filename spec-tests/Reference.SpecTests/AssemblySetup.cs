using FsCheck.Xunit;

// CI budget: every property runs 40 random cases unless it says otherwise. A failing case prints
// its seed ("Replay: ..."); replay it with [Property(Replay = "...")] and keep it as a regression test.
[assembly: Properties(MaxTest = 40)]
