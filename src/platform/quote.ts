/** Escaping for the file formats the service and autostart entries are written in. */

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One ExecStart word: systemd splits on whitespace, honours C-style escapes inside double quotes,
 * and expands `%` specifiers and `$VARS`, so those are doubled.
 */
export function systemdArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (PLAIN.test(arg)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * One Exec= word of a desktop entry: reserved characters need double quotes, inside which `"`,
 * `` ` ``, `$` and `\` are backslash-escaped; the value as a whole then escapes `\` again, and a
 * literal `%` is `%%` (field codes).
 */
export function desktopExecArg(arg: string): string {
  const percent = arg.replace(/%/g, '%%');
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(arg)) return percent;
  const quoted = `"${percent.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`;
  return quoted.replace(/\\/g, '\\\\');
}

export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * One argument on a Windows command line as CommandLineToArgvW reads it: quoted, with backslashes
 * doubled only where they precede a quote. Anything but plain characters is quoted, so cmd.exe
 * metacharacters (& | < > ^ parentheses) stay literal; `%` cannot be escaped on a cmd /c line.
 */
export function windowsArg(arg: string): string {
  if (/^[A-Za-z0-9_@+=:,./\\-]+$/.test(arg)) return arg;
  return `"${arg.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`;
}
