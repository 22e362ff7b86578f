/**
 * What went wrong in a run. Every failure is logged when it happens, listed at the end of the
 * report, and makes the bench exit non-zero, so a CI smoke run cannot pass with a section or a
 * tool failing. A missing prerequisite (not root, a tool not installed) is a warning on a
 * workstation and a failure under CI (CI set), like the privileged tests.
 */
import { log } from './log';

const failures: string[] = [];

/** A section, a measurement or a tool that failed. */
export function recordFailure(where: string, message: string): void {
  failures.push(`${where}: ${message}`);
  log.warn(`${where} failed`, { error: message });
}

/** Something left out because a prerequisite is missing: a failure only under CI. */
export function recordSkip(where: string, reason: string): void {
  if (process.env.CI) {
    recordFailure(where, `skipped under CI: ${reason}`);
    return;
  }
  log.warn(`${where} skipped: ${reason}`);
}

export function allFailures(): readonly string[] {
  return failures;
}
