/**
 * `phonehome inspect FILE`: decode what a capture holds and list, per exchange, the tracker it went
 * to and where planted canaries and device identifiers sit (issue 4 §5). FILE is a capture directory,
 * its NDJSON, a HAR file or raw HTTP requests; records stream through one at a time, so a capture of
 * 100k exchanges is inspected in flat memory.
 */
import type { Command } from 'commander';
import { jsonFlag } from '../options.ts';
import { readCaptureFile } from '../../inspect/read.ts';
import { createDetector } from '../../detect/index.ts';
import { analyseRecord } from '../../detect/pipeline.ts';
import {
  addToSummary,
  emptySummary,
  formatExchange,
  formatSummary,
  PERSONAL_DATA_NOTE,
} from '../../inspect/format.ts';
import {
  DEFAULT_IDENTIFIER_NAME,
  HOST_KEY,
  parseCanary,
  parseIdentifier,
  parseKeyOption,
  parseKeyOptions,
  SUPPORTED_KEYS,
  type NamedIdentifier,
} from '../../inspect/options.ts';

interface InspectOptions {
  json?: boolean;
  canary?: string[];
  identifier?: NamedIdentifier[];
  /** `NAME=VALUE` as given (each checked when parsed; parseKeyOptions makes the record). */
  key?: string[];
}

/** `text` in lines of at most `width` characters, the first indented by `first`, the others by `rest`. */
function wrap(text: string, width: number, first: string, rest: string): string {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(' ')) {
    const lead = lines.length === 0 ? first : rest;
    if (line.length > lead.length && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line += (line.length > lead.length ? ' ' : '') + word;
  }
  lines.push(line);
  return lines.join('\n');
}

/** A repeatable option; no default, so --help does not print `(default: [])`. */
function collect<T>(parse: (arg: string) => T): (arg: string, acc: T[] | undefined) => T[] {
  return (arg, acc) => [...(acc ?? []), parse(arg)];
}

const HELP = `
FILE is told apart by its content:
  a capture directory      reads capture.har (a run before issue 14: exchanges.ndjson + bodies.bin)
  NDJSON                   one capture record per line, as capture sessions wrote it before issue 14
  HAR 1.2                  ours (an unterminated one is repaired) or saved from Chrome DevTools
  raw HTTP/1.x requests    e.g. 'POST /sa?project=p HTTP/1.1' + headers + body; several in a row

--identifier [NAME=]VALUE: the part before the first '=' is a name only when it is a word (letters,
digits, '_', not starting with a digit) and more than '=' padding follows; otherwise the whole
argument is the value, named '${DEFAULT_IDENTIFIER_NAME}'. So 'dGVzdA==' is a value, 'a+b=c' is a
value, and 'aaid=dGVzdA==' is the value 'dGVzdA==' named 'aaid': give a name to be sure.

--key NAME=VALUE supports:
${[
  ...Object.entries(SUPPORTED_KEYS).map(([n, s]) => `${n}=<${s.form}>: ${s.what}`),
  `HOST=<${HOST_KEY.form}>, or *.SUFFIX=<…>: ${HOST_KEY.what}`,
]
  .map((line) => wrap(line, 100, '  ', '      '))
  .join('\n')}
A key that does not open what it should is an error finding, and the payload stays opaque.

Findings 'opaque' mark what could not be decoded to the end: encrypted Sensors batches and MiStat
uploads without their key, and any base64, base64url, hex, base32 or percent-encoded value (body,
form field, JSON value, query, cookie or header) that decodes to 40 bytes or more of binary no
decoder explains. A canary not found there proves nothing. Request headers other than Host,
Content-*, Connection, Transfer-Encoding, Accept-Encoding and Cookie are decoded as 'header.NAME'.

Exit codes: 0 when the file was read (whatever its payloads hold), 2 for a missing, unreadable or
unrecognised file or bad arguments.

Examples:
  $ phonehome inspect reports/run-1/capture --canary phc-7f3a9e --identifier android_id=8f2c1e0b9d7a4c36
  $ phonehome inspect upload.http --json --key mistat=00112233445566778899aabbccddeeff
  $ phonehome inspect capture/ --canary phc-7f3a9e --key '*.example.com=000102030405060708090a0b0c0d0e0f'
`;

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'decode a capture (HAR, capture NDJSON or raw HTTP requests) and list per exchange the tracker, ' +
        'the decoded layers, and where canaries and identifiers were found',
    )
    .argument('<FILE>', 'capture directory, exchanges.ndjson, HAR file, or raw HTTP request file')
    .addOption(jsonFlag('print one JSON document {"exchanges":[…]} instead of the tables'))
    .option(
      '--canary <value>',
      'a unique string a scenario planted (repeatable); found plain, URL-encoded, base64, hex, hashed',
      collect(parseCanary),
    )
    .option(
      '--identifier <[name=]value>',
      'a device identifier to look for (repeatable), e.g. android_id=8f2c1e0b9d7a4c36',
      collect(parseIdentifier),
    )
    .option(
      '--key <name=value>',
      `a decryption key (repeatable); NAME: ${Object.keys(SUPPORTED_KEYS).join(', ')}, a host or *.suffix`,
      collect((arg: string) => {
        parseKeyOption(arg); // a bad key fails at once, with the option's own message
        return arg;
      }),
    )
    .addHelpText('after', HELP)
    .action(async (file: string, o: InspectOptions) => {
      const detector = createDetector({ canaries: o.canary ?? [], identifiers: o.identifier ?? [] });
      const keys = o.key ? parseKeyOptions(o.key) : undefined;
      const warn = (m: string) => void process.stderr.write(`phonehome: warning: ${m}\n`);
      const summary = emptySummary();
      const out = new Output(process.stdout);
      let first = true;
      for await (const record of readCaptureFile(file, { onWarning: warn })) {
        // eventAges (when an upload's events were recorded) serves scenario verdicts; the --json
        // contract (issue 4 §5) is exactly index…findings.
        const { eventAges: _ages, ...x } = analyseRecord(record, detector, keys ? { keys } : {});
        addToSummary(summary, x);
        if (o.json) await out.write(`${first ? '{"exchanges":[\n' : ',\n'}${JSON.stringify(x)}`);
        else await out.write(`${first ? '' : '\n'}${formatExchange(x)}\n`);
        first = false;
        if (out.closed) return; // the reader went away (`| head`): stop quietly
      }
      if (o.json) {
        await out.write(first ? '{"exchanges":[]}\n' : '\n]}\n');
      } else {
        if (first) await out.write('no exchanges in the file\n');
        await out.write(`\n${formatSummary(summary)}\n${PERSONAL_DATA_NOTE}\n`);
      }
    });
}

/**
 * stdout with backpressure, so a 100k-exchange report does not pile up in memory; a reader that
 * closes the pipe early (EPIPE) ends the output instead of crashing the command.
 */
class Output {
  private static pipeClosed = false;
  private static watched = new WeakSet<NodeJS.WriteStream>();

  constructor(private readonly stream: NodeJS.WriteStream) {
    // Once per stream, and left in place: an EPIPE can arrive after the last write returned.
    if (!Output.watched.has(stream)) {
      Output.watched.add(stream);
      stream.on('error', () => {
        Output.pipeClosed = true;
      });
    }
  }

  get closed(): boolean {
    return Output.pipeClosed;
  }

  write(text: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.stream.write(text)) resolve();
      else {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.once('drain', done);
        this.stream.once('close', done);
      }
    });
  }
}
