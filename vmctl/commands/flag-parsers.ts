import { AppError } from "../../lib/errors.js";
import { parseSize } from "../vm/allocate.js";

// commander argParsers: each turns a flag's text into its typed value or refuses it in one line
// naming the flag, the value and what to give instead.

export function wholeNumber(flag: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new AppError("INVALID", `${flag} ${text}: a whole number from ${min} to ${max}`);
    return n;
  };
}

export function seconds(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0)
      throw new AppError("INVALID", `${flag} ${text}: seconds, e.g. 600`);
    return n;
  };
}

/** A size such as 512M or 20G, kept with the text it was given as (for later messages). */
export interface Size {
  text: string;
  bytes: number;
}

export function size(flag: string, atLeast?: string) {
  const min = atLeast === undefined ? 1 : (parseSize(atLeast) ?? 1);
  return (text: string): Size => {
    const bytes = parseSize(text);
    if (bytes === undefined || bytes < min) {
      const what =
        atLeast === undefined ? "a size, e.g. 20G" : `a size of at least ${atLeast}, e.g. 1G`;
      throw new AppError("INVALID", `${flag} ${text}: ${what}`);
    }
    return { text, bytes };
  };
}
