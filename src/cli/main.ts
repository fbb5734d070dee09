/** The `phonehome` command. */
import { Command, CommanderError } from 'commander';
import { registerLabCommand } from './commands/lab.ts';
import { registerDevicesCommand } from './commands/devices.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerInspectCommand } from './commands/inspect.ts';
import { registerCaptureCommand } from './commands/capture.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerAppiumCommand } from './commands/appium.ts';
import { registerDiffCommand } from './commands/diff.ts';
import { registerMergeCommand } from './commands/merge.ts';
import { registerReportCommand } from './commands/report.ts';
import { registerSchemaCommand } from './commands/schema.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerUiCommand } from './commands/ui.ts';
import { formatError, isUserFacing } from './errors.ts';
import { stateDir } from './state.ts';
import { Journal } from '../capture/journal.ts';
import { recoverStaleWirings } from '../capture/recover.ts';

export function buildProgram(): Command {
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
  registerLabCommand(program);
  registerDevicesCommand(program);
  registerDemoCommand(program);
  registerCaptureCommand(program);
  registerInspectCommand(program);
  registerDoctorCommand(program);
  registerAppiumCommand(program);
  registerReportCommand(program);
  registerDiffCommand(program);
  registerMergeCommand(program);
  registerSchemaCommand(program);
  registerRunCommand(program);
  registerUiCommand(program);
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
  const program = buildProgram();
  try {
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
