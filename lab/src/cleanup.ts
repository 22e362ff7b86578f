/**
 * The tear-down registry: every namespace, process, rule and file a lab creates is recorded
 * here with the synchronous action that undoes it, and undone in reverse order of creation
 * (processes before the namespaces they run in). Undo runs on an explicit destroy(), and as
 * a safety net on process exit and on SIGINT/SIGTERM/SIGHUP, so a failing test or a Ctrl-C
 * leaves nothing behind. Steps are synchronous so they can run from an 'exit' handler.
 */

interface UndoStep {
  label: string;
  undo: () => void;
}

const liveRegistries = new Set<CleanupRegistry>();
let processHooksInstalled = false;

function installProcessHooks(): void {
  if (processHooksInstalled) return;
  processHooksInstalled = true;
  process.on('exit', () => {
    for (const registry of liveRegistries) registry.runAll();
  });
  const onSignal = (signal: NodeJS.Signals, code: number) => () => {
    if (liveRegistries.size > 0) process.stderr.write(`\n[lab] ${signal}: tearing the lab down\n`);
    for (const registry of liveRegistries) registry.runAll();
    process.exit(code);
  };
  process.once('SIGINT', onSignal('SIGINT', 130));
  process.once('SIGTERM', onSignal('SIGTERM', 143));
  process.once('SIGHUP', onSignal('SIGHUP', 129));
}

export class CleanupRegistry {
  private readonly steps: UndoStep[] = [];
  /** Failures seen while undoing (kept so tests can assert a clean tear-down). */
  readonly failures: string[] = [];

  constructor() {
    installProcessHooks();
    liveRegistries.add(this);
  }

  /** Records how to undo something just created. */
  add(label: string, undo: () => void): void {
    this.steps.push({ label, undo });
  }

  /** Undoes everything, newest first; a failing step is recorded and the rest still run. */
  runAll(): void {
    while (this.steps.length > 0) {
      const step = this.steps.pop() as UndoStep;
      try {
        step.undo();
      } catch (error) {
        this.failures.push(`${step.label}: ${(error as Error).message}`);
      }
    }
    liveRegistries.delete(this);
  }

  get size(): number {
    return this.steps.length;
  }
}
