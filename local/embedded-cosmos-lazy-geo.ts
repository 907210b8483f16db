import Module from 'node:module';

/**
 * The store's query engine (@zeit/cosmosdb-query) requires Turf (1.5 MB of CommonJS: ~70 ms and 10 MB) when it
 * loads, only for the ST_* geospatial functions, which no Switchyard query calls. Imported by the store's thread
 * before the store, this makes that require hand back stand-ins that load Turf at the first call. Every Turf export
 * the engine uses is a function, and it takes some by reference while loading (ST_WITHIN's booleanWithin).
 */
const TURF = '@turf/turf';
type TurfFunction = (...args: unknown[]) => unknown;
const originalRequire = Module.prototype.require;
Module.prototype.require = function requireTurfLazily(this: Module, ...args: [id: string]): unknown {
  if (args[0] !== TURF) return Reflect.apply(originalRequire, this, args);
  let turf: Record<PropertyKey, TurfFunction> | undefined;
  const load = () => (turf ??= Reflect.apply(originalRequire, this, args) as Record<PropertyKey, TurfFunction>);
  return new Proxy(
    {},
    {
      get:
        (_, name) =>
        (...callArgs: unknown[]) =>
          load()[name]!(...callArgs),
    },
  );
} as typeof originalRequire;
