// Named arrays in a fixed order: a case's inputs or outputs, keyed by the manifest's names.
global using NamedArrays = System.Collections.Generic.OrderedDictionary<string, Reference.Core.IO.NpyArray>;
