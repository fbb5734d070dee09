/**
 * For the regex-worker tests: runs a costly call while another phone runs a command and an interval
 * ticks, and tells what happened in what order. A frozen event loop would let neither go first.
 */
export interface Probe<T> {
  result: T;
  /** 'other' and 'costly', in the order they finished. */
  order: string[];
  /** Ticks of a 20 ms interval while both ran. */
  ticks: number;
}

export async function alongside<T>(costly: Promise<T>, other: () => Promise<unknown>): Promise<Probe<T>> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  const order: string[] = [];
  try {
    const [result] = await Promise.all([
      costly.then((r) => {
        order.push('costly');
        return r;
      }),
      other().then(() => order.push('other')),
    ]);
    return { result, order, ticks };
  } finally {
    clearInterval(timer);
  }
}
