import { parse, type ParseError, ParseErrorCode } from 'jsonc-parser';

/**
 * Where strict JSON goes wrong, for messages like "line 3, column 5". Node's JSON.parse messages
 * don't always carry a position (V8 11 says only `Unexpected token …`); jsonc-parser's scanner,
 * run in strict mode (no comments, no trailing commas), reports the offset. Pure.
 */
export interface JsonErrorPosition {
  offset: number;
  line: number;
  column: number;
  expected: string;
}

const EXPECTED: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: 'a value (true, false, null, a number or a "string")',
  [ParseErrorCode.ValueExpected]: 'a value',
  [ParseErrorCode.PropertyNameExpected]: 'a key in double quotes (JSON allows no trailing comma)',
  [ParseErrorCode.ColonExpected]: '":" after the key',
  [ParseErrorCode.CommaExpected]: '"," between entries',
  [ParseErrorCode.CloseBraceExpected]: '"}"',
  [ParseErrorCode.CloseBracketExpected]: '"]"',
  [ParseErrorCode.EndOfFileExpected]: 'the end of the file',
  [ParseErrorCode.InvalidCommentToken]: 'no comment (JSON has none)',
  [ParseErrorCode.UnexpectedEndOfString]: 'the closing double quote',
  [ParseErrorCode.UnexpectedEndOfComment]: 'no comment (JSON has none)',
};

export function findJsonError(text: string): JsonErrorPosition | null {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return null;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - (before.lastIndexOf('\n') + 1) + 1;
  return { offset: first.offset, line, column, expected: EXPECTED[first.error] ?? 'valid JSON' };
}

/**
 * The first bracket nested deeper than `max` (outside strings), or null. A linear scan, run
 * before any recursive parser sees the text: a daemon.json of 100,000 `[` overflowed the stack.
 * Pure.
 */
export function findTooDeep(text: string, max: number): { line: number; column: number } | null {
  let depth = 0;
  let inString = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) {
      line += 1;
      lineStart = i + 1;
    }
    if (inString) {
      if (ch === 92)
        i += 1; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 91 || ch === 123) {
      depth += 1;
      if (depth > max) return { line, column: i - lineStart + 1 };
    } else if (ch === 93 || ch === 125) depth -= 1;
  }
  return null;
}
