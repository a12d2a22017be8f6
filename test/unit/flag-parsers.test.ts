import { describe, expect, it } from "vitest";
import { seconds, size, wholeNumber } from "../../vmctl/commands/flag-parsers.js";

describe("vmctl flag parsers", () => {
  it("turn a flag's text into its typed value", () => {
    expect(wholeNumber("--cpus", 1, 64)("4")).toBe(4);
    expect(seconds("--timeout")("1.5")).toBe(1.5);
    expect(size("--memory", "128M")("512M")).toEqual({ text: "512M", bytes: 512 * 2 ** 20 });
  });

  it("refuse a bad value in one line naming the flag, the value and what to give", () => {
    expect(() => wholeNumber("--cpus", 1, 64)("1.5")).toThrow(
      "--cpus 1.5: a whole number from 1 to 64",
    );
    expect(() => seconds("--timeout")("0")).toThrow("--timeout 0: seconds, e.g. 600");
    expect(() => size("--memory", "128M")("64M")).toThrow(
      "--memory 64M: a size of at least 128M, e.g. 1G",
    );
    expect(() => size("--disk")("big")).toThrow("--disk big: a size, e.g. 20G");
  });
});
