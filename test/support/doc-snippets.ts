/**
 * The `hostalias …` command lines of the documentation (README.md and docs/*.md), read from their
 * code blocks as a shell would split them, for test/unit/doc-snippets.test.ts to check against the
 * real CLI and for e2e tests that run a page's blocks. Pure except docPages (reads the files).
 *
 * Which lines count:
 * - blocks marked sh, bash, shell, console, text, yaml or yml, and unmarked blocks; in a block
 *   that shows prompts (`$ …`), only the prompt lines (the rest is output);
 * - in YAML, the shell of a `- run: …` step or a `- …` script item;
 * - every `hostalias` at a command's start: the first word, or after `;`, `&&`, `||`, `|`, `$(`,
 *   past `sudo [-E …]`, `npx [--package X]`, `env` and `VAR=value` words. `node …/main.js` (a
 *   clone's CLI) counts as `hostalias`.
 * A line whose comment starts with `# refused` shows a command the CLI refuses on purpose: the
 * test expects it to be refused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CodeBlock {
  lang: string;
  /** 1-based line of the first line inside the fence. */
  line: number;
  lines: string[];
}

export interface DocCommand {
  file: string;
  /** 1-based line in the file. */
  line: number;
  /** The source line as written. */
  text: string;
  /** The arguments after `hostalias`. */
  argv: string[];
  /** Marked `# refused …`: the CLI must refuse it. */
  refused: boolean;
}

type Token = { word: string } | { op: string };

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'text', 'yaml', 'yml', '']);

/** The fenced code blocks of a markdown text. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open: CodeBlock | null = null;
  let fence = '';
  markdown.split('\n').forEach((text, i) => {
    const m = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(text);
    if (open === null && m) {
      fence = m[2] as string;
      open = { lang: (m[3] ?? '').toLowerCase(), line: i + 2, lines: [] };
    } else if (open !== null && text.trim().startsWith(fence) && text.trim().replace(/[`~]/g, '') === '') {
      blocks.push(open);
      open = null;
    } else if (open !== null) open.lines.push(text);
  });
  return blocks;
}

/**
 * Splits one line as a POSIX shell would into words and operators: quotes and backslashes are
 * resolved, a `#` at a word's start begins the comment (returned apart), `$(` and `)` are operators.
 */
export function shellWords(line: string): { tokens: Token[]; comment: string | null } {
  const tokens: Token[] = [];
  let word: string | null = null;
  const end = () => {
    if (word !== null) tokens.push({ word });
    word = null;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    const two = line.slice(i, i + 2);
    if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      const stop = close === -1 ? line.length : close;
      word = (word ?? '') + line.slice(i + 1, stop);
      i = stop;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      for (; j < line.length && line[j] !== '"'; j++) s += line[j] === '\\' && j + 1 < line.length ? line[++j] : line[j];
      word = (word ?? '') + s;
      i = j;
    } else if (c === '#' && word === null) {
      end();
      return { tokens, comment: line.slice(i) };
    } else if (/\s/.test(c)) {
      end();
    } else if (two === '$(' || two === '&&' || two === '||' || two === '>>' || two === '2>') {
      end();
      tokens.push({ op: two });
      i++;
    } else if (';|&()<>'.includes(c)) {
      end();
      tokens.push({ op: c });
    } else word = (word ?? '') + c;
  }
  end();
  return { tokens, comment: null };
}

const COMMAND_START = new Set([';', '&&', '||', '|', '$(', '(', '&']);
const REDIRECT = new Set(['>', '>>', '<', '2>']);

/** The argument lists of every `hostalias` command in one shell line. */
export function hostaliasInvocations(tokens: readonly Token[]): string[][] {
  const found: string[][] = [];
  let atStart = true;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if ('op' in t) {
      atStart = COMMAND_START.has(t.op);
      if (REDIRECT.has(t.op)) i++;
      continue;
    }
    if (!atStart) continue;
    atStart = false;
    let j = i;
    const word = (k: number) => {
      const x = tokens[k];
      return x && 'word' in x ? x.word : null;
    };
    // Wrappers that run the command after them.
    for (;;) {
      const w = word(j);
      if (w === 'sudo' || w === 'env' || w === 'exec' || w === 'time') {
        j++;
        while (word(j)?.startsWith('-')) j++;
      } else if (w === 'npx') {
        j++;
        while (word(j)?.startsWith('-')) j += word(j) === '--package' || word(j) === '-p' ? 2 : 1;
      } else if (w !== null && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) j++;
      else break;
    }
    let start = -1;
    if (word(j) === 'hostalias') start = j + 1;
    else if (word(j) === 'node' && word(j + 1)?.endsWith('main.js')) start = j + 2;
    if (start === -1) continue;
    const args: string[] = [];
    let k = start;
    for (; k < tokens.length; k++) {
      const x = tokens[k] as Token;
      if ('op' in x) break;
      args.push(x.word);
    }
    found.push(args);
    i = k - 1;
  }
  return found;
}

/** The shell text of a YAML line: a `- run: …` step, a `run: …` key or a `- …` script item. */
function yamlShell(line: string): string | null {
  const m = /^\s*(?:-\s+)?(?:run:\s*)?(.*)$/.exec(line);
  const rest = m?.[1] ?? '';
  return /^[\w-]+:(\s|$)/.test(rest) ? null : rest;
}

/** Every `hostalias …` command line in one markdown file's code blocks. */
export function docCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  for (const block of codeBlocks(markdown)) {
    if (!SHELL_LANGS.has(block.lang)) continue;
    const prompts = block.lines.some((l) => /^\$ /.test(l));
    if (block.lang === '' && !prompts) continue;
    const yaml = block.lang === 'yaml' || block.lang === 'yml';
    // Join continuation lines (a trailing backslash) before splitting.
    for (let i = 0; i < block.lines.length; i++) {
      const first = i;
      let text = block.lines[i] as string;
      while (text.endsWith('\\') && i + 1 < block.lines.length) text = `${text.slice(0, -1)} ${block.lines[++i] as string}`;
      let shell: string | null = text;
      if (prompts) shell = /^\$ /.test(text) ? text.slice(2) : null;
      else if (yaml) shell = yamlShell(text);
      if (shell === null) continue;
      const { tokens, comment } = shellWords(shell);
      for (const argv of hostaliasInvocations(tokens))
        out.push({ file, line: block.line + first, text: block.lines[first] as string, argv, refused: comment !== null && /^#\s*refused\b/.test(comment) });
    }
  }
  return out;
}

/** README.md and docs/*.md of the repository at `root`, as [relative path, text]. */
export function docPages(root: string): Array<[string, string]> {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs].map((f) => [f, readFileSync(join(root, f), 'utf8')]);
}

/** One step of a page run in the lab, in the page's order. */
export type PageStep = { kind: 'file'; name: string; text: string } | { kind: 'run'; line: number; command: string; expected: string[] | null };

/**
 * A page's code blocks as steps to run, in order: a YAML block whose first line is `# NAME` is the
 * file NAME; each line of a sh block is a command; each `$ ` line of a text block is a command whose
 * output shows the lines after it (a `…` line stands for any number of lines). Pure.
 */
export function pageSteps(markdown: string): PageStep[] {
  const steps: PageStep[] = [];
  for (const b of codeBlocks(markdown)) {
    const name = /^#\s+(\S+)\s*$/.exec(b.lines[0] ?? '')?.[1];
    if ((b.lang === 'yaml' || b.lang === 'yml') && name) steps.push({ kind: 'file', name, text: `${b.lines.join('\n')}\n` });
    else if (b.lang === 'sh' || b.lang === 'bash')
      b.lines.forEach((l, i) => {
        if (l.trim() !== '' && !l.trim().startsWith('#')) steps.push({ kind: 'run', line: b.line + i, command: l, expected: null });
      });
    else if (b.lang === 'text')
      b.lines.forEach((l, i) => {
        const last = steps.at(-1);
        if (l.startsWith('$ ')) steps.push({ kind: 'run', line: b.line + i, command: l.slice(2), expected: [] });
        else if (last?.kind === 'run' && last.expected) last.expected.push(l);
      });
  }
  return steps;
}

/**
 * Whether `output` is what a page shows as `expected`: the same lines, where a `…` line stands for
 * any number of lines (none included). Pure.
 */
export function showsAs(output: string, expected: readonly string[]): boolean {
  const lines = output.replace(/\n$/, '').split('\n');
  const match = (i: number, j: number): boolean => {
    if (j === expected.length) return i === lines.length;
    if (expected[j] === '…') return match(i, j + 1) || (i < lines.length && match(i + 1, j));
    return i < lines.length && lines[i] === expected[j] && match(i + 1, j + 1);
  };
  return match(0, 0);
}
