/**
 * `phonehome schema [--out DIR]`: writes the JSON Schemas of scenario files, phonehome.json, devices.json and the
 * virtual lab's firmware profiles for editors. The set is assembled here, at the top, because it spans
 * layers that must not import each other (scenario, config and the virtual lab: issue 13).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { projectJsonSchema } from '../../config/project.ts';
import {
  devicesJsonSchema,
  formatJson,
  locatorOverridesJsonSchema,
  scenarioJsonSchema,
} from '../../scenario/schema.ts';
import { profileJsonSchema } from '../../virtual/profiles/schema.ts';

/** The files `phonehome schema` writes: name → content. */
export function schemaFiles(): Record<string, string> {
  return {
    'scenario.schema.json': formatJson(scenarioJsonSchema()),
    'devices.schema.json': formatJson(devicesJsonSchema()),
    'profile.schema.json': formatJson(profileJsonSchema()),
    'locator-overrides.schema.json': formatJson(locatorOverridesJsonSchema()),
    'phonehome.schema.json': formatJson(projectJsonSchema()),
  };
}

/** Writes the schema files into `dir` (created if needed); returns their paths. */
export function writeSchemaFiles(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return Object.entries(schemaFiles()).map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
}

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
