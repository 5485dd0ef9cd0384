global using Reference.Core.Conformance;
