import { AppError } from "../../lib/errors.js";

/**
 * Names vmctl hands to other programs. Both end up in command lines (ssh's `USER@IP`, paths on
 * the host), so they are checked against what they may be rather than escaped case by case.
 */
const VM_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// POSIX-ish user names (useradd's default rule): never starts with `-`, so ssh cannot read
// `-oProxyCommand=…@10.0.0.5` as an option.
const USER = /^[a-z_][a-z0-9_-]{0,31}$/i;

/** A VM name is a hostname label: it is also the guest's hostname and part of file names. */
export function checkVmName(name: string): void {
  if (!VM_NAME.test(name))
    throw new AppError(
      "INVALID",
      `VM name "${name}": use lower-case letters, digits and - (a hostname label)`,
    );
}

export function isLoginUser(user: string): boolean {
  return USER.test(user);
}

/** `what` names where the user came from: a flag, or the domain metadata of a VM. */
export function checkLoginUser(flag: string, user: string): void {
  if (!isLoginUser(user))
    throw new AppError(
      "INVALID",
      `${flag} ${user}: not a user name (letters, digits, _ and -, not starting with -)`,
    );
}
