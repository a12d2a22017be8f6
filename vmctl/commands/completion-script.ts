// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, not templates
/** The part of a commander command the completion generator reads. */
export interface CommandTree {
  name(): string;
  readonly commands: readonly CommandTree[];
  readonly options: readonly {
    long?: string | undefined;
    short?: string | undefined;
    required: boolean;
    optional: boolean;
    argChoices?: string[] | undefined;
  }[];
  readonly registeredArguments: readonly { name(): string }[];
}

/**
 * What a positional argument names, completed from vmctl itself: VMs from `vmctl --json list`
 * (one virsh call per host), networks from `vmctl --json net list` (the local store), hosts and
 * routers from `vmctl --json host list` / `router list` (the cluster file; no machine is
 * contacted). By command path and position; anything not listed completes nothing (new names)
 * or files.
 */
const VM = ["show", "ip", "start", "stop", "reboot", "delete", "console", "ssh", "resize"];
const ARGS: Record<string, string[]> = {
  ...Object.fromEntries(VM.map((c) => [c, ["vm"]])),
  ...Object.fromEntries(
    ["create", "list", "revert", "delete"].map((c) => [`snapshot ${c}`, ["vm"]]),
  ),
  "net show": ["network"],
  "net delete": ["network"],
  "host apply": ["host"],
  "router apply": ["router"],
  doctor: ["machine"],
  "image import": ["", "file"],
};

/** Flags whose value names a kind of ARGS, whichever command they are on. */
const FLAG_KINDS: Record<string, string> = { "--host": "host" };

/** The vmctl read commands that list each kind's names (`machine`: a host or a router). */
const KINDS: Record<string, string[]> = {
  vm: ["list"],
  network: ["net list"],
  host: ["host list"],
  router: ["router list"],
  machine: ["host list", "router list"],
};

interface Node {
  path: string;
  subcommands: string[];
  flags: string[];
  /** Flags that take a value, with their choices ("" = a free value, completed as a file). */
  valued: Map<string, string[]>;
}

function walk(c: CommandTree, path: string, inherited: Node["valued"], out: Node[]): void {
  const valued = new Map(inherited);
  const flags: string[] = [];
  for (const o of c.options) {
    for (const f of [o.long, o.short]) {
      if (!f) continue;
      flags.push(f);
      if (!(o.required || o.optional)) continue;
      const kind = o.long ? FLAG_KINDS[o.long] : undefined;
      valued.set(f, kind ? [`__${kind}__`] : (o.argChoices ?? []));
    }
  }
  const globals = out.length === 0 ? [] : (out[0]?.flags ?? []);
  out.push({
    path,
    subcommands: c.commands.map((s) => s.name()),
    flags: [...new Set([...flags, ...globals, "--help"])],
    valued,
  });
  for (const s of c.commands) walk(s, path ? `${path} ${s.name()}` : s.name(), valued, out);
}

const word = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Shell functions (POSIX `case`, the same text in bash and zsh) holding the command tree. */
function tables(program: CommandTree): string[] {
  const nodes: Node[] = [];
  walk(program, "", new Map(), nodes);
  const cases = (fn: string, rows: [string, string][]) => [
    `${fn}() {`,
    '  case "$1" in',
    ...rows.map(([k, v]) => `    ${word(k)}) printf '%s\\n' ${v} ;;`),
    "  esac",
    "}",
  ];
  const valued = nodes.flatMap((n) =>
    [...n.valued.entries()].map(([f, choices]): [string, string] => [
      `${n.path}|${f}`,
      choices.length ? choices.map(word).join(" ") : "__value__",
    ]),
  );
  const args = Object.entries(ARGS).flatMap(([path, kinds]) =>
    kinds.map((k, i): [string, string] => [`${path}|${i}`, k ? word(k) : "''"]),
  );
  return [
    ...cases(
      "_vmctl_subcommands",
      nodes
        .filter((n) => n.subcommands.length)
        .map((n) => [n.path, n.subcommands.map(word).join(" ")]),
    ),
    ...cases(
      "_vmctl_flags",
      nodes.map((n) => [n.path, n.flags.map(word).join(" ")]),
    ),
    ...cases("_vmctl_valued", valued),
    ...cases("_vmctl_arg", args),
    "_vmctl_kind() {",
    '  case "$1" in',
    ...Object.entries(KINDS).map(
      ([kind, lists]) =>
        `    ${word(kind)}) ${lists.map((l) => `_vmctl_names ${word(l)}`).join("; ")} ;;`,
    ),
    "    file) echo __files__ ;;",
    "  esac",
    "}",
  ];
}

/**
 * Shared by both shells: `_vmctl_context WORD...` (the words before the cursor, without
 * `vmctl`) sets the command path, the positional index and a flag that awaits its value; then
 * `_vmctl_candidates CUR` prints the candidates, one a line, or `__files__`.
 */
const DRIVER = [
  "_vmctl_context() {",
  '  _vmctl_path="" _vmctl_npos=0 _vmctl_pending="" _vmctl_globals=""',
  "  local w",
  '  for w in "$@"; do',
  '    if [ -n "$_vmctl_pending" ]; then',
  '      case "$_vmctl_pending" in --cluster|--state-dir) _vmctl_globals="$_vmctl_globals $_vmctl_pending $w" ;; esac',
  '      _vmctl_pending=""; continue',
  "    fi",
  '    case "$w" in',
  "      --*=*) continue ;;",
  '      -*) if [ -n "$(_vmctl_valued "$_vmctl_path|$w")" ]; then _vmctl_pending="$w"; fi; continue ;;',
  "    esac",
  '    if _vmctl_subcommands "$_vmctl_path" | grep -qxF -- "$w"; then',
  '      _vmctl_path="${_vmctl_path:+$_vmctl_path }$w"; _vmctl_npos=0',
  "    else",
  "      _vmctl_npos=$((_vmctl_npos + 1))",
  "    fi",
  "  done",
  "}",
  "",
  "_vmctl_names() {",
  "  # One JSON document; each record's first key is its name.",
  '  eval "vmctl $_vmctl_globals --json $1" 2>/dev/null | grep -o \'{"name":"[^"]*"\' | cut -d\'"\' -f4',
  "}",
  "",
  "_vmctl_candidates() {",
  '  if [ -n "$_vmctl_pending" ]; then',
  '    local v; v="$(_vmctl_valued "$_vmctl_path|$_vmctl_pending")"',
  '    case "$v" in',
  "      __value__) echo __files__ ;;",
  // The value of a flag in FLAG_KINDS: `__host__` names the kind to list.
  '      __*__) v="${v#__}"; _vmctl_kind "${v%__}" ;;',
  "      *) printf '%s\\n' \"$v\" ;;",
  "    esac",
  "    return",
  "  fi",
  '  case "$1" in -*) _vmctl_flags "$_vmctl_path"; return ;; esac',
  '  local subs; subs="$(_vmctl_subcommands "$_vmctl_path")"',
  '  if [ -n "$subs" ]; then printf \'%s\\n\' "$subs"; return; fi',
  '  _vmctl_kind "$(_vmctl_arg "$_vmctl_path|$_vmctl_npos")"',
  "}",
];

export function bashCompletion(program: CommandTree): string {
  return [
    "# vmctl completion for bash: generated by `vmctl completion bash` from vmctl's commands.",
    "# Install: vmctl completion bash > /etc/bash_completion.d/vmctl (or: source <(vmctl completion bash))",
    ...tables(program),
    ...DRIVER,
    "",
    "_vmctl() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" c',
    '  _vmctl_context "${COMP_WORDS[@]:1:COMP_CWORD-1}"',
    '  c="$(_vmctl_candidates "$cur")"',
    '  if [ "$c" = __files__ ]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi',
    "  local IFS=$'\\n'",
    '  COMPREPLY=($(compgen -W "$c" -- "$cur"))',
    "}",
    "complete -F _vmctl vmctl",
    "",
  ].join("\n");
}

export function zshCompletion(program: CommandTree): string {
  return [
    "#compdef vmctl",
    "# vmctl completion for zsh: generated by `vmctl completion zsh` from vmctl's commands.",
    '# Install: vmctl completion zsh > "${fpath[1]}/_vmctl" (or: source <(vmctl completion zsh))',
    ...tables(program),
    ...DRIVER,
    "",
    "_vmctl() {",
    "  local c",
    '  _vmctl_context "${(@)words[2,CURRENT-1]}"',
    '  c="$(_vmctl_candidates "${words[CURRENT]}")"',
    '  if [ "$c" = __files__ ]; then _files; return; fi',
    '  [ -n "$c" ] && compadd -- "${(@f)c}"',
    "}",
    'if [ "$funcstack[1]" = _vmctl ]; then _vmctl "$@"; else compdef _vmctl vmctl; fi',
    "",
  ].join("\n");
}
