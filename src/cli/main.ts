/** The `phonehome` command. */
import { Command, CommanderError } from 'commander';
import { registerLabCommand } from './commands/lab.ts';
import { registerDevicesCommand } from './commands/devices.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { formatError, isUserFacing } from './errors.ts';

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
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help/version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${formatError(err)}\n`);
    return isUserFacing(err) ? (err.exitCode ?? 1) : 70;
  }
}
