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
