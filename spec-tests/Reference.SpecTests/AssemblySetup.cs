using FsCheck.Xunit;

// CI budget: every property runs 40 cases unless it says otherwise.
// The default build replays one fixed FsCheck seed, so `dotnet test` (and CI) is reproducible:
// a property draws 40 different cases, but the same 40 on every run. To explore new cases, build
// with random seeds: `dotnet test -c Release -p:RandomProperties=true`; a failure then prints its
// seed ("Replay: ..."), which is kept as a regression case with [Property(Replay = "...")].
#if RANDOM_PROPERTIES
[assembly: Properties(MaxTest = 40)]
#else
[assembly: Properties(MaxTest = 40, Replay = "(7305445948711374167,17394519158175938661)")]
#endif
