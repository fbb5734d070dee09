/**
 * One analysis worker of pool.ts: keeps the detectors of the configurations it was sent, and runs
 * analyseRecord on each record posted to it. Never answers for a record whose configuration it does
 * not know: that is an error the pool turns into a rejected analysis.
 */
import { parentPort } from 'node:worker_threads';
import { Catalogue } from './catalogue.ts';
import type { Detector } from './detector.ts';
import { analyseRecord, type AnalyseOptions } from './pipeline.ts';
import { fromWire, packLayers, type FromWorker, type ToWorker, type WireCatalogue } from './pool.ts';

const port = parentPort;
if (!port) throw new Error('pool-worker.ts runs in a worker thread (src/detect/pool.ts)');

const rebuild = (c: WireCatalogue): Catalogue => new Catalogue(c.entries, c.file, c.defaultUpload, c.vendors);
const configs = new Map<number, { detector: Detector; opts: AnalyseOptions } | Error>();

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'config':
      try {
        configs.set(m.id, fromWire(m.config, rebuild));
      } catch (e) {
        configs.set(m.id, e instanceof Error ? e : new Error(String(e)));
      }
      return;
    case 'release':
      configs.delete(m.id);
      return;
    case 'crash':
      throw new Error('crash requested by a test');
    case 'analyse': {
      const c = configs.get(m.config);
      let reply: FromWorker;
      if (!c) reply = { job: m.job, error: `no analyser configuration ${m.config} in the worker` };
      else if (c instanceof Error) reply = { job: m.job, error: c.message };
      else {
        const r = m.record;
        if (r.type === 'exchange') {
          const b = r.request.body as Uint8Array;
          r.request.body = Buffer.from(b.buffer, b.byteOffset, b.length);
        }
        try {
          const { layers, ...result } = analyseRecord(r, c.detector, c.opts);
          reply = { job: m.job, result, layers: packLayers(layers) };
        } catch (e) {
          reply = { job: m.job, error: e instanceof Error ? e.message : String(e) };
        }
      }
      port.postMessage(reply);
    }
  }
});

port.postMessage({ ready: true } satisfies FromWorker);
