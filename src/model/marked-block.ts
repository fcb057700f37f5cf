/**
 * Edits of system files hostalias doesn't own (/etc/hosts, /etc/network/interfaces) live between
 * two marker comments, so `down` removes exactly what `up` added and nothing the user wrote. Pure.
 */
export const BEGIN = '# BEGIN hostalias (managed: removed by `hostalias down`)';
export const END = '# END hostalias';

function blockRange(lines: string[]): [number, number] | null {
  const start = lines.indexOf(BEGIN);
  if (start < 0) return null;
  const end = lines.indexOf(END, start);
  return end < 0 ? null : [start, end];
}

export function stripBlock(content: string): string {
  const lines = content.split('\n');
  const range = blockRange(lines);
  if (!range) return content;
  lines.splice(range[0], range[1] - range[0] + 1);
  return lines.join('\n');
}

/**
 * Returns `content` with the block set to `body`: replaced where it is, otherwise inserted after
 * the first line matching `after`, otherwise appended.
 */
export function setBlock(content: string, body: string[], after?: RegExp): string {
  const block = [BEGIN, ...body, END];
  const lines = content.split('\n');
  const range = blockRange(lines);
  if (range) {
    lines.splice(range[0], range[1] - range[0] + 1, ...block);
    return lines.join('\n');
  }
  const anchor = after ? lines.findIndex((l) => after.test(l)) : -1;
  if (anchor >= 0) {
    lines.splice(anchor + 1, 0, ...block);
    return lines.join('\n');
  }
  // A file without a final newline gets the block appended without one either, so that
  // stripBlock gives back the user's bytes exactly (the line split is the same both ways).
  if (content !== '' && !content.endsWith('\n')) return `${content}\n${block.join('\n')}`;
  return `${content}${block.join('\n')}\n`;
}

/** The lines between the markers, or null when there is no block. */
export function blockBody(content: string): string[] | null {
  const lines = content.split('\n');
  const range = blockRange(lines);
  return range ? lines.slice(range[0] + 1, range[1]) : null;
}

export function hasBlock(content: string | null): boolean {
  return content !== null && blockRange(content.split('\n')) !== null;
}
