import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { schemaFiles } from '../../../src/cli/commands/schema.ts';
import { formatJson, scenarioJsonSchema } from '../../../src/scenario/schema.ts';
import { STEP_NAMES } from '../../../src/scenario/types.ts';
import { runMain } from '../cli/run-main.ts';

const SCHEMAS = new URL('../../../schemas/', import.meta.url);

describe('JSON Schemas', () => {
  it('the committed schemas/ files are what the zod schemas generate (no drift)', () => {
    for (const [name, content] of Object.entries(schemaFiles())) {
      assert.equal(
        readFileSync(new URL(name, SCHEMAS), 'utf8'),
        content,
        `schemas/${name} is stale: run \`phonehome schema --out schemas\``,
      );
    }
  });

  it('are formatted as prettier formats them', async () => {
    const options = (await prettier.resolveConfig(new URL('scenario.schema.json', SCHEMAS))) ?? {};
    for (const [name, content] of Object.entries(schemaFiles())) {
      assert.ok(await prettier.check(content, { ...options, filepath: name }), name);
    }
    assert.equal(
      formatJson({ a: [1, 'x'], b: {}, c: [] }),
      '{\n  "a": [1, "x"],\n  "b": {},\n  "c": []\n}\n',
    );
  });

  it('describe the header and every step, with nested commands referring to Step', () => {
    const schema = scenarioJsonSchema() as {
      anyOf: unknown[];
      $defs: Record<
        string,
        {
          anyOf?: Array<{ properties?: Record<string, unknown>; enum?: string[] }>;
          additionalProperties?: boolean;
        }
      >;
    };
    assert.equal(schema.anyOf.length, 2);
    assert.equal(schema.$defs.Header!.additionalProperties, false);
    const variants = schema.$defs.Step!.anyOf!;
    assert.deepEqual(variants[0]!.enum, ['background', 'startEvidence']);
    assert.deepEqual(
      variants.slice(1).map((v) => Object.keys(v.properties ?? {})[0]),
      [...STEP_NAMES],
    );
    const text = JSON.stringify(schema);
    assert.match(text, /"commands":\{"minItems":1,"type":"array","items":\{"\$ref":"#\/\$defs\/Step"\}/);
  });

  it('give the negative checks an optional `to` and `control:`, and assertUpload `id:`', () => {
    type Obj = { properties: Record<string, { pattern?: string }>; required?: string[] };
    const variants = (
      scenarioJsonSchema() as { $defs: { Step: { anyOf: Array<{ properties?: Record<string, unknown> }> } } }
    ).$defs.Step.anyOf;
    const argsOf = (name: string): Obj => {
      const v = variants.find((x) => Object.keys(x.properties ?? {})[0] === name)!;
      const a = v.properties![name] as Obj | { anyOf: Obj[] };
      return 'anyOf' in a ? a.anyOf.find((x) => x.properties)! : a;
    };
    const noUpload = argsOf('assertNoUpload');
    assert.deepEqual(noUpload.required, ['containing']);
    assert.equal(noUpload.properties.control?.pattern, '^[A-Za-z][A-Za-z0-9_.-]*$');
    assert.equal(noUpload.properties.id, undefined);
    const upload = argsOf('assertUpload');
    assert.deepEqual(upload.required, ['containing']);
    assert.equal(upload.properties.id?.pattern, '^[A-Za-z][A-Za-z0-9_.-]*$');
    assert.equal(upload.properties.control, undefined);
    const noRequest = argsOf('assertNoRequest');
    assert.deepEqual(noRequest.required, ['host']);
    assert.ok(noRequest.properties.control);
  });

  it('include the firmware profile schema (src/virtual/profiles/schema.ts)', () => {
    const files = schemaFiles();
    assert.deepEqual(Object.keys(files), [
      'scenario.schema.json',
      'devices.schema.json',
      'profile.schema.json',
      'locator-overrides.schema.json',
      'phonehome.schema.json',
    ]);
    const profile = JSON.parse(files['profile.schema.json']!) as {
      title: string;
      $defs: Record<string, unknown>;
    };
    assert.equal(profile.title, 'phonehome firmware profile');
    assert.ok(profile.$defs.Profile && profile.$defs.ProfileOverride);
  });

  it('`phonehome schema --out DIR` writes every file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-schema-'));
    try {
      const r = await runMain(['schema', '--out', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /scenario\.schema\.json\n.*devices\.schema\.json\n.*profile\.schema\.json\n/);
      for (const [name, content] of Object.entries(schemaFiles())) {
        assert.equal(readFileSync(join(dir, name), 'utf8'), content);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
