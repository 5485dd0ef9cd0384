using System.Globalization;
using System.Numerics;
using System.Text;

namespace Reference.Core.IO;

/// <summary>
/// Parses the .npy header: the Python dict literal numpy writes with repr and reads with
/// ast.literal_eval. Only the subset a valid header can contain is accepted: string keys;
/// values that are strings ('...' or "...", no escapes), True/False, integers and tuples of
/// integers. Whitespace may appear between tokens, a trailing comma is allowed before '}' and
/// ')' as in Python, and only whitespace may follow the closing brace (numpy's padding).
/// Validation is strict: exactly the keys descr, fortran_order and shape, each once; shape a
/// tuple (so "(5)", an int in Python, is refused) of integers.
/// Limits against hostile headers: tuples and lists nest at most <see cref="MaxDepth"/> deep (the
/// parser recurses once per level) and an integer literal has at most <see cref="MaxDigits"/>
/// digits (a dimension is at most 2^63 - 1, 19 digits; leading zeros are not valid Python).
/// </summary>
internal sealed class HeaderDict
{
    private static readonly string[] Keys = ["descr", "fortran_order", "shape"];

    /// <summary>Deepest nesting of tuples and lists accepted (a valid header nests one: the shape).</summary>
    public const int MaxDepth = 16;

    /// <summary>Longest integer literal accepted.</summary>
    public const int MaxDigits = 32;

    private readonly string text;
    private readonly string file;
    private int pos;
    private int depth;

    private HeaderDict(string text, string file)
    {
        this.text = text;
        this.file = file;
    }

    private sealed record PyTuple(List<object> Items);

    private sealed record PyList(List<object> Items);

    private sealed record PyNone;

    public static (string Descr, bool FortranOrder, long[] Shape) Parse(string text, string file)
    {
        var parser = new HeaderDict(text, file);
        var entries = parser.ParseDict();
        return parser.Validate(entries);
    }

    private List<(string Key, object Value)> ParseDict()
    {
        SkipWhitespace();
        if (pos >= text.Length) throw Fail("the header is empty");
        Expect('{');
        var entries = new List<(string, object)>();
        while (true)
        {
            SkipWhitespace();
            if (Peek() == '}') { pos++; break; }
            int keyAt = pos;
            if (ParseValue() is not string key) throw Fail("dict keys must be strings", keyAt);
            SkipWhitespace();
            Expect(':');
            object value = ParseValue();
            entries.Add((key, value));
            SkipWhitespace();
            if (Peek() == ',') { pos++; continue; }
            if (Peek() == '}') { pos++; break; }
            throw Fail("expected ',' or '}' after a value");
        }
        SkipWhitespace();
        if (pos != text.Length) throw Fail("unexpected text after the closing '}'");
        return entries;
    }

    private object ParseValue()
    {
        SkipWhitespace();
        char c = Peek();
        if (c is '\'' or '"') return ParseString();
        if (c == '(') return new PyTuple(ParseSequence('(', ')'));
        if (c == '[') return new PyList(ParseSequence('[', ']'));
        if (c is '-' or '+' || char.IsAsciiDigit(c)) return ParseInteger();
        if (char.IsAsciiLetter(c) || c == '_')
        {
            int start = pos;
            while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] == '_')) pos++;
            return text[start..pos] switch
            {
                "True" => true,
                "False" => false,
                "None" => new PyNone(),
                var name => throw Fail($"unexpected name '{name}' (only True, False and None are literals)", start),
            };
        }
        if (c == '{') throw Fail("nested dicts are not valid in a header");
        if (c == '\0' && pos >= text.Length) throw Fail("the header ends inside the dict");
        throw Fail($"unexpected character {Show(c)}");
    }

    private string ParseString()
    {
        char quote = text[pos];
        int start = ++pos;
        while (pos < text.Length && text[pos] != quote)
        {
            if (text[pos] == '\\') throw Fail("escape sequences in strings are not supported");
            if (text[pos] == '\n') throw Fail("a string literal runs past the end of the line");
            pos++;
        }
        if (pos >= text.Length) throw Fail("unterminated string literal", start - 1);
        return text[start..pos++];
    }

    private List<object> ParseSequence(char open, char close)
    {
        if (++depth > MaxDepth) throw Fail($"tuples and lists nest deeper than {MaxDepth} levels");
        Expect(open);
        var items = new List<object>();
        bool sawComma = false;
        while (true)
        {
            SkipWhitespace();
            if (Peek() == close) { pos++; break; }
            items.Add(ParseValue());
            SkipWhitespace();
            if (Peek() == ',') { pos++; sawComma = true; continue; }
            if (Peek() == close) { pos++; break; }
            throw Fail($"expected ',' or '{close}' in a {(open == '(' ? "tuple" : "list")}");
        }
        depth--;
        // Python: "(5)" is the integer 5, not a tuple; only "(5,)" is a one-element tuple.
        if (open == '(' && items.Count == 1 && !sawComma) return [new ParenthesizedScalar(items[0])];
        return items;
    }

    /// <summary>Marks "(x)" so validation can say "shape must be a tuple, found the integer x".</summary>
    private sealed record ParenthesizedScalar(object Value);

    private BigInteger ParseInteger()
    {
        int start = pos;
        if (text[pos] is '-' or '+') pos++;
        SkipWhitespace();
        int digits = pos;
        while (pos < text.Length && char.IsAsciiDigit(text[pos])) pos++;
        if (pos == digits) throw Fail("expected digits", start);
        if (pos - digits > MaxDigits) throw Fail($"an integer literal of {pos - digits} digits is longer than the {MaxDigits} allowed", start);
        if (pos < text.Length && (text[pos] is '.' or 'e' or 'E' or 'j' or 'J' or 'L' or 'l' or '_' or 'x' or 'X' || char.IsAsciiLetter(text[pos])))
            throw Fail("only plain decimal integers are allowed in a header", start);
        var value = BigInteger.Parse(text.AsSpan(digits, pos - digits), NumberStyles.None, CultureInfo.InvariantCulture);
        return text[start] == '-' ? -value : value;
    }

    private (string, bool, long[]) Validate(List<(string Key, object Value)> entries)
    {
        var seen = new Dictionary<string, object>();
        foreach (var (key, value) in entries)
        {
            if (Array.IndexOf(Keys, key) < 0)
                throw new NpyFormatException(file, $"the header has an unexpected key '{key}' (expected exactly 'descr', 'fortran_order', 'shape').");
            if (!seen.TryAdd(key, value))
                throw new NpyFormatException(file, $"the header repeats the key '{key}'.");
        }
        foreach (var key in Keys)
            if (!seen.ContainsKey(key))
                throw new NpyFormatException(file, $"the header lacks the key '{key}'.");

        string descr = seen["descr"] switch
        {
            string s => s,
            PyList => throw new NpyFormatException(file, "structured dtypes (descr is a list of fields) are not supported."),
            var other => throw new NpyFormatException(file, $"descr must be a string, found {Describe(other)}."),
        };
        bool fortran = seen["fortran_order"] is bool b
            ? b
            : throw new NpyFormatException(file, $"fortran_order must be True or False, found {Describe(seen["fortran_order"])}.");
        if (seen["shape"] is not PyTuple tuple || tuple.Items is [ParenthesizedScalar])
            throw new NpyFormatException(file, $"shape must be a tuple of integers, found {Describe(seen["shape"])}.");
        var shape = new long[tuple.Items.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (tuple.Items[i] is not BigInteger dim)
                throw new NpyFormatException(file, $"shape[{i}] must be an integer, found {Describe(tuple.Items[i])}.");
            if (dim < long.MinValue || dim > long.MaxValue)
                throw new NpyFormatException(file, $"shape[{i}] = {dim} is out of range.");
            shape[i] = (long)dim;
        }
        return (descr, fortran, shape);
    }

    private static string Describe(object value) => value switch
    {
        string s => $"the string '{s}'",
        bool b => b ? "True" : "False",
        BigInteger n => $"the integer {n}",
        PyNone => "None",
        PyList => "a list",
        PyTuple { Items: [ParenthesizedScalar p] } => $"{Describe(p.Value)} in parentheses (a one-element tuple needs a trailing comma)",
        PyTuple => "a tuple",
        ParenthesizedScalar p => Describe(p.Value),
        _ => value.GetType().Name,
    };

    private void SkipWhitespace()
    {
        while (pos < text.Length && text[pos] is ' ' or '\t' or '\n' or '\r') pos++;
    }

    private char Peek() => pos < text.Length ? text[pos] : '\0';

    private void Expect(char c)
    {
        SkipWhitespace();
        if (Peek() != c)
            throw Fail(pos >= text.Length ? $"expected '{c}' but the header ends" : $"expected '{c}', found {Show(Peek())}");
        pos++;
    }

    private NpyFormatException Fail(string problem, int? at = null)
    {
        int where = at ?? pos;
        return new NpyFormatException(file, $"the header is not a valid dict literal: {problem} at offset {where} in {Excerpt()}.");
    }

    private static string Show(char c) => c is >= ' ' and < '\x7f' ? $"'{c}'" : $"\\u{(int)c:x4}";

    /// <summary>The header on one line, control characters escaped, cut at 100 characters.</summary>
    private string Excerpt()
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text.TrimEnd().Take(100))
            sb.Append(c is >= ' ' and < '\x7f' ? c.ToString() : $"\\u{(int)c:x4}");
        if (text.TrimEnd().Length > 100) sb.Append("...");
        return sb.Append('"').ToString();
    }
}
