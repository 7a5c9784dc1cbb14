// V8 CPU profiles taken through the Chrome DevTools Protocol (`Profiler.stop`), summed per function.

/** Self time per function name in ms (wasm functions by their symbol names, scripts' anonymous code by URL). */
export function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const { functionName, url } = nodes.get(id).callFrame;
    const name = functionName || url || "(anonymous)";
    self.set(name, (self.get(name) ?? 0) + profile.timeDeltas[i] / 1000);
  });
  return self;
}

/** Prints the `top` largest entries of a name -> ms map, with each one's share of the whole. */
export function printHottest(times, top = 25) {
  const total = [...times.values()].reduce((sum, ms) => sum + ms, 0);
  for (const [name, ms] of [...times].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 120)}`);
  }
}
