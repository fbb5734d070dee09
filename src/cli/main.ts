/** The `phonehome` command. */
import { Command, CommanderError } from 'commander';
import { formatError, isUserFacing } from './errors.ts';
import { stateDir } from './state.ts';
import { Journal } from '../capture/journal.ts';
import { recoverStaleWirings } from '../capture/recover.ts';

type Register = (program: Command) => void;

/**
 * The commands, in the order `--help` lists them, each loaded only when needed: a command's module
 * pulls in what its action uses (mockttp, webdriverio, the virtual lab…), about a second of module
 * loading in all, so `phonehome run` loads only run's and `phonehome --help` loads them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  lab: async () => (await import('./commands/lab.ts')).registerLabCommand,
  devices: async () => (await import('./commands/devices.ts')).registerDevicesCommand,
  demo: async () => (await import('./commands/demo.ts')).registerDemoCommand,
  capture: async () => (await import('./commands/capture.ts')).registerCaptureCommand,
  inspect: async () => (await import('./commands/inspect.ts')).registerInspectCommand,
  doctor: async () => (await import('./commands/doctor.ts')).registerDoctorCommand,
  appium: async () => (await import('./commands/appium.ts')).registerAppiumCommand,
  report: async () => (await import('./commands/report.ts')).registerReportCommand,
  diff: async () => (await import('./commands/diff.ts')).registerDiffCommand,
  merge: async () => (await import('./commands/merge.ts')).registerMergeCommand,
  schema: async () => (await import('./commands/schema.ts')).registerSchemaCommand,
  run: async () => (await import('./commands/run.ts')).registerRunCommand,
  ui: async () => (await import('./commands/ui.ts')).registerUiCommand,
};

/**
 * The program with the command `argv` names, or with every command when it names none of them
 * (`--help`, `--version`, a typo: commander then lists them all or suggests the closest).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command();
  program
    .name('phonehome')
    .description(
      'Drive Xiaomi phones (MIUI, HyperOS) over ADB, capture what they upload, and prove whether ' +
        'incognito mode and privacy opt-outs really stop it.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const named = argv[2];
  const load =
    named !== undefined && Object.hasOwn(COMMANDS, named) ? [COMMANDS[named]!] : Object.values(COMMANDS);
  for (const register of await Promise.all(load.map((l) => l()))) register(program);
  return program;
}

/**
 * Before any command: restore phones that a dead phonehome process left wired (issue 4 §2). Quiet
 * when the journal is empty; never fails the command.
 */
async function recoverFirst(): Promise<void> {
  try {
    await recoverStaleWirings(new Journal(stateDir()), { log: (l) => process.stderr.write(`${l}\n`) });
  } catch (err) {
    process.stderr.write(
      `phonehome: could not check the wiring journal: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    // Inside the try: a command module that fails to load is an error message, not a stack trace.
    const program = await buildProgram(argv);
    await recoverFirst();
    await program.parseAsync(argv);
    // A command that finished but failed some checks (doctor, capture) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help/version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${formatError(err)}\n`);
    return isUserFacing(err) ? (err.exitCode ?? 1) : 70;
  }
}
