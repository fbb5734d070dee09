/**
 * JSON Schemas for editors (issue 6 §1), generated from the zod schemas the parser and the runner
 * validate with, so they cannot drift: `scenario.schema.json` (both documents of a scenario file: the
 * header and the steps; YAML language servers apply it to each document), `devices.schema.json` and
 * `locator-overrides.schema.json`. `phonehome schema [--out DIR]` (src/cli/commands/schema.ts)
 * assembles them with `phonehome.schema.json` and the virtual lab's `profile.schema.json` and writes
 * them; the copies in schemas/ are checked by a unit test.
 *
 * In VS Code (redhat.vscode-yaml): `"yaml.schemas": {"./schemas/scenario.schema.json": "scenarios/*.yaml"}`,
 * or a first line `# yaml-language-server: $schema=../schemas/scenario.schema.json` in a scenario.
 */
import { z } from 'zod';
import { devicesFileSchema } from '../config/devices-schema.ts';
import { locatorOverridesSchema } from '../ui/pages/overrides.ts';
import { STEP_NAMES } from './types.ts';
import { STEPS, allowsBare, headerSchema, type StepSpec } from './steps.ts';

export { devicesFileSchema, validateDevicesFile } from '../config/devices-schema.ts';

const stepOptions = {
  label: z.string().min(1).optional().describe("The step's name in reports"),
  optional: z.boolean().optional().describe('A failure of this step is reported and the scenario goes on'),
};

// A recursive reference to Step, for repeat/retry commands.
const stepRef: z.ZodType = z.lazy(() => stepSchema);

function argsForEditors(spec: StepSpec): z.ZodType {
  let args = (spec.args as unknown as z.ZodObject).safeExtend(stepOptions);
  if (spec.keys.includes('commands')) {
    args = args.safeExtend({
      commands: z
        .array(stepRef)
        .min(1)
        .describe(args.shape.commands?.description ?? 'Steps'),
    });
  }
  const forms: z.ZodType[] = [];
  if (spec.shorthand) forms.push(spec.shorthand.input);
  forms.push(args);
  if (allowsBare(spec.name)) forms.push(z.null());
  return forms.length === 1 ? forms[0]! : z.union(forms);
}

const variants = STEP_NAMES.map((name) => {
  const spec = STEPS[name];
  return z
    .strictObject({ [name]: argsForEditors(spec) })
    .describe(`${name}: ${spec.doc}\n\nExample:\n${spec.example}`);
});
const bareNames = STEP_NAMES.filter((n) => allowsBare(n));

const stepSchema: z.ZodType = z
  .union([z.enum(bareNames as [string, ...string[]]).describe('A step without arguments'), ...variants])
  .meta({
    id: 'Step',
    description: 'A step: a bare step name, or a one-key map {step: arguments or shorthand}',
  });

const scenarioDocument = z
  .union([
    headerSchema.meta({ id: 'Header', description: 'The config header (the first YAML document)' }),
    z.array(stepSchema).meta({ id: 'Steps', description: 'The steps (the second YAML document, after ---)' }),
  ])
  .meta({
    title: 'phonehome scenario',
    description:
      'A phonehome scenario file: two YAML documents, a config header and the steps, separated by "---".',
  });

/** The scenario file's JSON Schema (draft 2020-12). */
export function scenarioJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(scenarioDocument, { io: 'input', target: 'draft-2020-12' });
}

/** devices.json's JSON Schema (draft 2020-12). */
export function devicesJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(devicesFileSchema.meta({ title: 'phonehome devices.json' }), {
    io: 'input',
    target: 'draft-2020-12',
  });
}

/** The locator override file's JSON Schema (draft 2020-12; src/ui/pages/overrides.ts). */
export function locatorOverridesJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(locatorOverridesSchema.meta({ title: 'phonehome locator overrides' }), {
    io: 'input',
    target: 'draft-2020-12',
  });
}

const WIDTH = 110;

/**
 * JSON as prettier (printWidth 110) prints it, so that the committed files pass `prettier --check`:
 * objects one key per line, arrays of plain values on one line when they fit.
 */
export function formatJson(value: unknown): string {
  return `${fmt(value, '', 0)}\n`;
}

function fmt(value: unknown, indent: string, used: number): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const plain = value.every((v) => v === null || typeof v !== 'object');
    if (plain) {
      const inline = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (used + inline.length + 1 <= WIDTH) return inline;
    }
    const inner = `${indent}  `;
    return `[\n${value.map((v) => `${inner}${fmt(v, inner, inner.length)}`).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries
      .map(([k, v]) => {
        const key = `${inner}${JSON.stringify(k)}: `;
        return `${key}${fmt(v, inner, key.length)}`;
      })
      .join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
