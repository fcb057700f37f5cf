/**
 * Finds where strict JSON goes wrong, for messages like "line 3, column 5". Node's JSON.parse
 * messages don't always carry a position (V8 11 says only `Unexpected token …`), so this small
 * recursive-descent scanner re-reads the text. Pure; only called after JSON.parse failed.
 */
export interface JsonErrorPosition {
  offset: number;
  line: number;
  column: number;
  expected: string;
}

class Fail {
  constructor(
    readonly offset: number,
    readonly expected: string,
  ) {}
}

export function findJsonError(text: string): JsonErrorPosition | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const expect = (ch: string, what: string) => {
    if (text[i] !== ch) throw new Fail(i, what);
    i++;
  };
  const str = () => {
    expect('"', 'a string');
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) throw new Fail(i, 'a closing quote (control characters must be escaped)');
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Fail(i, 'four hex digits after \\u');
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) throw new Fail(i, 'a valid escape');
      }
      i++;
    }
    expect('"', 'a closing quote');
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        str();
        ws();
        expect(':', '":" after the key');
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === '}') throw new Fail(i, 'another key (JSON allows no trailing comma)');
          continue;
        }
        expect('}', '"," or "}"');
        return;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === ']') throw new Fail(i, 'another value (JSON allows no trailing comma)');
          continue;
        }
        expect(']', '"," or "]"');
        return;
      }
    }
    if (c === '"') return str();
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (!m) throw new Fail(i, 'a value');
    i += m[0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Fail(i, 'the end of the file');
    return null;
  } catch (err) {
    if (!(err instanceof Fail)) throw err;
    const before = text.slice(0, err.offset);
    const line = before.split('\n').length;
    const column = err.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { offset: err.offset, line, column, expected: err.expected };
  }
}
