// A typed event emitter: the engine's only channel for step-by-step reports.
import type { EngineEvents, EngineEventType } from "./types.js";

type Listener<K extends EngineEventType> = (event: EngineEvents[K]) => void;

/** Delivers each event to its listeners; a throwing listener is reported, never fatal. */
export class Emitter {
  #listeners = new Map<EngineEventType, Set<Listener<EngineEventType>>>();

  on<K extends EngineEventType>(type: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as Listener<EngineEventType>);
    return () => set.delete(listener as Listener<EngineEventType>);
  }

  emit<K extends EngineEventType>(type: K, event: EngineEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (err) {
        console.warn(`tandem: a '${type}' listener threw`, err);
      }
    }
  }
}

/** What an engine reports before it is ready: no backend, no models. */
export const NOT_READY: EngineEvents["ready"] = {
  backend: "none",
  fallbackReason: null,
  threads: 1,
  threadsReason: null,
  models: { local: null, localReason: null, analyzer: false, routingFor: null },
};
