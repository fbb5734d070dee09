/**
 * `phonehome schema [--out DIR]`: writes the JSON Schemas of scenario files, phonehome.json, devices.json and the
 * virtual lab's firmware profiles for editors.
 */
import type { Command } from 'commander';
import { writeSchemaFiles } from '../../scenario/schema.ts';

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description(
      'Write the JSON Schemas of scenario files, phonehome.json, devices.json and firmware profiles (scenario.schema.json, ' +
        'phonehome.schema.json, devices.schema.json, profile.schema.json, locator-overrides.schema.json) for editor completion, e.g. with the YAML language server',
    )
    .option('--out <dir>', 'folder to write them to', 'schemas')
    .action((opts: { out: string }) => {
      for (const path of writeSchemaFiles(opts.out)) process.stdout.write(`${path}\n`);
      process.stdout.write(
        'Point your editor at them, e.g. VS Code settings: "yaml.schemas": {"./schemas/scenario.schema.json": "scenarios/*.yaml"}\n',
      );
    });
}
