import type { Command, Option } from 'commander';
import type { CliIO } from '../io.js';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What a flag's value is completed with. */
type ValueKind = { kind: 'none' } | { kind: 'choices'; words: readonly string[] } | { kind: 'dir' } | { kind: 'file' } | { kind: 'any' };

interface FlagSpec {
  long: string | null;
  short: string | null;
  description: string;
  value: ValueKind;
}

interface CommandSpec {
  name: string;
  description: string;
  flags: FlagSpec[];
  /** Words its positional arguments take, when they are a fixed set (`completion bash|zsh|fish`). */
  args: readonly string[];
}

/** The program's commands and flags as data, read from commander itself (so completion can't drift). Pure. */
export function completionSpec(program: Command): { commands: CommandSpec[]; flags: FlagSpec[] } {
  const help = program.createHelp();
  const flag = (o: Option): FlagSpec => {
    const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags);
    const name = (placeholder?.[1] ?? placeholder?.[2] ?? '').replace(/\.\.\.$/, '');
    const value: ValueKind =
      o.argChoices !== undefined
        ? { kind: 'choices', words: o.argChoices }
        : !o.required && !o.optional
          ? { kind: 'none' }
          : name === 'dir'
            ? { kind: 'dir' }
            : name === 'path' || name === 'file'
              ? { kind: 'file' }
              : { kind: 'any' };
    return { long: o.long ?? null, short: o.short ?? null, description: o.description, value };
  };
  const commands = help
    .visibleCommands(program)
    .filter((c) => c.name() !== 'help')
    .map((c) => ({
      name: c.name(),
      description: c.description(),
      flags: help.visibleOptions(c).map(flag),
      args: c.registeredArguments.flatMap((a) => a.argChoices ?? []),
    }));
  return { commands, flags: help.visibleOptions(program).map(flag) };
}

const names = (f: FlagSpec) => [f.long, f.short].filter((n): n is string => n !== null);

/** A word for inside single quotes in sh, zsh and fish. */
function sq(text: string): string {
  return text.replace(/'/g, `'\\''`);
}

function bashScript(spec: ReturnType<typeof completionSpec>): string {
  const top = [...spec.commands.map((c) => c.name), ...spec.flags.flatMap(names)].join(' ');
  const valueCases: string[] = [];
  for (const c of spec.commands)
    for (const f of c.flags) {
      const pattern = names(f)
        .map((n) => `${c.name}:${n}`)
        .join('|');
      if (f.value.kind === 'choices') valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -W '${sq(f.value.words.join(' '))}' -- "$cur")); return ;;`);
      else if (f.value.kind === 'dir') valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -d -- "$cur")); return ;;`);
      else if (f.value.kind === 'file') valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
      else if (f.value.kind === 'any') valueCases.push(`    ${pattern}) return ;;`);
    }
  const flagCases = spec.commands.map((c) => `    ${c.name}) words='${sq([...c.flags.flatMap(names), ...c.args].join(' '))}' ;;`);
  return `# bash completion for hostalias, printed by \`hostalias completion bash\` from its own command definitions.
# Load it now:  source <(hostalias completion bash)
# or for every shell:  hostalias completion bash > ~/.local/share/bash-completion/completions/hostalias
_hostalias() {
  local cur prev cmd words i
  COMPREPLY=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W '${sq(top)}' -- "$cur"))
    return
  fi
  case "$cmd:$prev" in
${valueCases.join('\n')}
  esac
  case "$cmd" in
${flagCases.join('\n')}
    *) words='' ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _hostalias hostalias
`;
}

/** A description for zsh's _arguments and _describe: one line, no unescaped brackets or colons. */
function zshText(text: string): string {
  return sq(text.split('\n')[0] ?? '')
    .replace(/[[\]]/g, (m) => `\\${m}`)
    .replace(/:/g, '\\:');
}

function zshScript(spec: ReturnType<typeof completionSpec>): string {
  const commands = spec.commands.map((c) => `    '${c.name}:${zshText(c.description)}'`);
  const action = (f: FlagSpec): string => {
    switch (f.value.kind) {
      case 'none':
        return '';
      case 'choices':
        return `:${f.value.kind}:(${f.value.words.join(' ')})`;
      case 'dir':
        return ':dir:_files -/';
      case 'file':
        return ':file:_files';
      default:
        return ':value: ';
    }
  };
  const perCommand = spec.commands.map((c) => {
    const specs = c.flags.flatMap((f) => names(f).map((n) => `'${n}[${zshText(f.description)}]${action(f)}'`));
    if (c.args.length > 0) specs.push(`'1:${c.name}:(${c.args.join(' ')})'`);
    return `        ${c.name}) _arguments ${specs.join(' ')} '*::arg:_files' ;;`;
  });
  return `#compdef hostalias
# zsh completion for hostalias, printed by \`hostalias completion zsh\` from its own command definitions.
# Load it now:  source <(hostalias completion zsh)
# or for every shell: save it as _hostalias in a folder on $fpath (before compinit).
_hostalias() {
  local -a commands
  commands=(
${commands.join('\n')}
  )
  local curcontext="$curcontext" state line
  _arguments -C '1: :->command' '*:: :->args' && return
  case $state in
    command) _describe 'hostalias command' commands ;;
    args)
      case $line[1] in
${perCommand.join('\n')}
      esac
      ;;
  esac
}
if [ "$funcstack[1]" = "_hostalias" ]; then
  _hostalias "$@"
else
  compdef _hostalias hostalias
fi
`;
}

function fishScript(spec: ReturnType<typeof completionSpec>): string {
  const lines = ['complete -c hostalias -f'];
  for (const c of spec.commands) lines.push(`complete -c hostalias -n __fish_use_subcommand -a ${c.name} -d '${sq(c.description.split('\n')[0] ?? '')}'`);
  for (const c of spec.commands) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
    if (c.args.length > 0) lines.push(`complete -c hostalias ${when} -a '${sq(c.args.join(' '))}'`);
    for (const f of c.flags) {
      const opt = [f.long ? `-l ${f.long.replace(/^--/, '')}` : '', f.short ? `-s ${f.short.replace(/^-/, '')}` : ''].filter(Boolean).join(' ');
      const value =
        f.value.kind === 'choices'
          ? ` -x -a '${sq(f.value.words.join(' '))}'`
          : f.value.kind === 'dir'
            ? ` -x -a '(__fish_complete_directories)'`
            : f.value.kind === 'file'
              ? ' -r -F'
              : f.value.kind === 'any'
                ? ' -x'
                : '';
      lines.push(`complete -c hostalias ${when} ${opt}${value} -d '${sq(f.description.split('\n')[0] ?? '')}'`);
    }
  }
  return `# fish completion for hostalias, printed by \`hostalias completion fish\` from its own command definitions.
# Load it now:  hostalias completion fish | source
# or for every shell:  hostalias completion fish > ~/.config/fish/completions/hostalias.fish
${lines.join('\n')}
`;
}

/** The completion script for `shell`, from the program's own definitions. Pure. */
export function completionScript(program: Command, shell: CompletionShell): string {
  const spec = completionSpec(program);
  return shell === 'bash' ? bashScript(spec) : shell === 'zsh' ? zshScript(spec) : fishScript(spec);
}

/**
 * `hostalias completion bash|zsh|fish`: prints a completion script. main.ts registers every
 * command before this one runs, so the script covers them all.
 */
export function registerCompletionCommand(program: Command, io: CliIO): void {
  program
    .command('completion')
    .description('print a shell completion script for the commands and flags: source <(hostalias completion bash)')
    .addArgument(program.createArgument('<shell>', 'bash, zsh or fish').choices(COMPLETION_SHELLS))
    .action((shell: CompletionShell) => {
      io.out(completionScript(program, shell).trimEnd());
    });
}
