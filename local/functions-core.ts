/**
 * A local stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into the
 * app by overriding `Module.prototype.require`. `@azure/functions` v4 requires it (lazily, at the first `app.*`
 * registration) and, when present, hands it the programming model, every function registration and every hook.
 * This file implements the part of that API @azure/functions 4.16.5 calls and collects what it receives, so the
 * local host (functions-host.ts) serves exactly the registrations production serves.
 *
 * Semantics follow the worker (Azure/azure-functions-nodejs-worker: setupCoreModule.ts, coreApi/registerFunction.ts,
 * hooks/getHooks.ts): functions may only be registered during startup; unknown hook names throw a RangeError marked
 * as a system error (which @azure/functions turns into "Log hooks require Azure Functions Host v4.34 or higher.").
 */
import Module from 'node:module';

const CORE_MODULE_ID = '@azure/functions-core';
/** One registry per process, like one worker per process, even if this file is loaded twice (tsx + vitest). */
const REGISTRY_KEY = Symbol.for('switchyard.local.functions-core');

export type CoreLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type CoreLogCategory = 'user' | 'system' | 'customMetric';
export type CoreLogSink = (level: CoreLogLevel, category: CoreLogCategory, message: string) => void;

/** A binding as @azure/functions' toCoreFunctionMetadata writes it (trigger options spread into it). */
export interface CoreBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  [property: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, CoreBindingInfo>;
  retryOptions?: unknown;
}

export type CoreFunctionCallback = (...args: unknown[]) => unknown;

export interface CoreHookContext {
  readonly hookData: Record<string, unknown>;
  readonly appHookData: Record<string, unknown>;
}
export interface CoreAppStartContext extends CoreHookContext {
  functionAppDirectory: string;
}
export type CoreAppTerminateContext = CoreHookContext;
export interface CorePreInvocationContext extends CoreHookContext {
  readonly invocationContext: unknown;
  inputs: unknown[];
  functionCallback: CoreFunctionCallback;
}
export interface CorePostInvocationContext extends CoreHookContext {
  readonly invocationContext: unknown;
  inputs: unknown[];
  result: unknown;
  error: unknown;
}
export type CoreHookCallback<TContext> = (context: TContext) => unknown;

export interface CoreProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: unknown): unknown;
}

export type HttpAuthLevel = 'anonymous' | 'function' | 'admin';

/** An `app.http(...)` registration as the host serves it. */
export interface HttpFunctionRegistration {
  readonly name: string;
  /** The route template as registered; the function name when none was given. */
  readonly route: string;
  /** Upper-case methods; empty means every method (a generic registration without `methods`). */
  readonly methods: readonly string[];
  readonly authLevel: HttpAuthLevel;
  /** The user's handler: called as `handler(request, context)`. */
  readonly handler: CoreFunctionCallback;
  readonly metadata: Readonly<CoreFunctionMetadata>;
}

/** An `app.timer(...)` registration: the local host runs it on its NCRONTAB schedule (timer-runner.ts). */
export interface TimerFunctionRegistration {
  readonly name: string;
  readonly schedule: string;
  readonly runOnStartup: boolean;
  /** The user's handler: called as `handler(timer, context)`. */
  readonly handler: CoreFunctionCallback;
  readonly metadata: Readonly<CoreFunctionMetadata>;
}

/** A registration with another trigger (queue, blob…): recorded, never invoked by the local host. */
export interface OtherFunctionRegistration {
  readonly name: string;
  readonly triggerType: string;
}

export interface FunctionsCoreHooks {
  readonly appStart: readonly CoreHookCallback<CoreAppStartContext>[];
  readonly appTerminate: readonly CoreHookCallback<CoreAppTerminateContext>[];
  readonly preInvocation: readonly CoreHookCallback<CorePreInvocationContext>[];
  readonly postInvocation: readonly CoreHookCallback<CorePostInvocationContext>[];
}

export interface FunctionsCoreRegistry {
  /** HTTP-triggered functions, in registration order. The arrays are live: disposal removes entries. */
  readonly httpFunctions: readonly HttpFunctionRegistration[];
  readonly timerFunctions: readonly TimerFunctionRegistration[];
  readonly otherFunctions: readonly OtherFunctionRegistration[];
  readonly hooks: FunctionsCoreHooks;
  /** Shared by every hook (the worker's `appHookData`). */
  readonly appHookData: Record<string, unknown>;
  /** `hookData` of the app-level hooks (appStart, appTerminate), as the worker keeps it. */
  readonly appLevelHookData: Record<string, unknown>;
  readonly programmingModel: CoreProgrammingModel | undefined;
  /** Whether the app called `app.setup({ enableHttpStream: true })` (seen through the library's system log). */
  readonly httpStreamEnabled: boolean;
  /** Opens a startup window: registrations are allowed until the matching endStartup(). */
  beginStartup(): void;
  /** Closes a startup window; from then on, registrations outside a window throw as they do in the worker. */
  endStartup(): void;
  /** Where `log(level, category, message)` calls go; undefined restores the console default. */
  setLogSink(sink: CoreLogSink | undefined): void;
  log(level: CoreLogLevel, category: CoreLogCategory, message: string): void;
}

/** The worker's Disposable (the library returns these from hook registrations). */
export class Disposable {
  static from(...disposables: { dispose(): unknown }[]): Disposable {
    let pending: readonly { dispose(): unknown }[] | undefined = disposables;
    return new Disposable(() => {
      if (pending) {
        for (const disposable of pending) {
          if (typeof disposable?.dispose === 'function') disposable.dispose();
        }
        pending = undefined;
      }
    });
  }

  #callOnDispose: (() => unknown) | undefined;

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): unknown {
    const callOnDispose = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return typeof callOnDispose === 'function' ? callOnDispose() : undefined;
  }
}

class AzFuncSystemError extends Error {
  readonly isAzureFunctionsSystemError = true;
}

class AzFuncRangeError extends RangeError {
  readonly isAzureFunctionsSystemError = true;
}

/** The message setup() logs when streaming is switched on; the only outward sign of it. */
const HTTP_STREAM_ENABLED_MESSAGE = 'HTTP streaming enabled.';

function defaultLogSink(level: CoreLogLevel, category: CoreLogCategory, message: string): void {
  if (level === 'trace' || level === 'debug' || level === 'none') return;
  const line = category === 'user' ? message : `[functions-core] ${message}`;
  if (level === 'information') console.info(line);
  else if (level === 'warning') console.warn(line);
  else console.error(line);
}

interface MutableHooks {
  appStart: CoreHookCallback<CoreAppStartContext>[];
  appTerminate: CoreHookCallback<CoreAppTerminateContext>[];
  preInvocation: CoreHookCallback<CorePreInvocationContext>[];
  postInvocation: CoreHookCallback<CorePostInvocationContext>[];
}

function isHookName(name: string): name is keyof MutableHooks {
  return name === 'appStart' || name === 'appTerminate' || name === 'preInvocation' || name === 'postInvocation';
}

function removeItem<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}

function toHttpRegistration(
  metadata: CoreFunctionMetadata,
  trigger: CoreBindingInfo,
  handler: CoreFunctionCallback,
): HttpFunctionRegistration {
  const route = typeof trigger.route === 'string' && trigger.route !== '' ? trigger.route : metadata.name;
  const rawMethods = Array.isArray(trigger.methods) ? (trigger.methods as unknown[]) : [];
  const methods = rawMethods.map((method) => String(method).toUpperCase());
  const rawAuthLevel = typeof trigger.authLevel === 'string' ? trigger.authLevel.toLowerCase() : 'anonymous';
  if (rawAuthLevel !== 'anonymous' && rawAuthLevel !== 'function' && rawAuthLevel !== 'admin') {
    throw new AzFuncSystemError(
      `Function "${metadata.name}": unknown authLevel "${String(trigger.authLevel)}" (expected anonymous, function or admin).`,
    );
  }
  return Object.freeze({ name: metadata.name, route, methods, authLevel: rawAuthLevel, handler, metadata });
}

function createRegistry(): { registry: FunctionsCoreRegistry; coreApi: Record<string, unknown> } {
  const httpFunctions: HttpFunctionRegistration[] = [];
  const timerFunctions: TimerFunctionRegistration[] = [];
  const otherFunctions: OtherFunctionRegistration[] = [];
  const names = new Set<string>();
  const hooks: MutableHooks = { appStart: [], appTerminate: [], preInvocation: [], postInvocation: [] };
  let programmingModel: CoreProgrammingModel | undefined;
  let httpStreamEnabled = false;
  let openStartups = 0;
  let hasStarted = false;
  let sink: CoreLogSink = defaultLogSink;

  const assertDuringStartup = (action: string): void => {
    if (hasStarted && openStartups === 0) {
      throw new AzFuncSystemError(`A function can only be ${action} during app startup.`);
    }
  };

  const registry: FunctionsCoreRegistry = {
    httpFunctions,
    timerFunctions,
    otherFunctions,
    hooks,
    appHookData: {},
    appLevelHookData: {},
    get programmingModel() {
      return programmingModel;
    },
    get httpStreamEnabled() {
      return httpStreamEnabled;
    },
    beginStartup() {
      openStartups += 1;
    },
    endStartup() {
      openStartups = Math.max(0, openStartups - 1);
      hasStarted = true;
    },
    setLogSink(next) {
      sink = next ?? defaultLogSink;
    },
    log(level, category, message) {
      if (category === 'system' && message === HTTP_STREAM_ENABLED_MESSAGE) httpStreamEnabled = true;
      sink(level, category, message);
    },
  };

  const registerFunction = (metadata: CoreFunctionMetadata, callback: CoreFunctionCallback): Disposable => {
    assertDuringStartup('registered');
    if (typeof metadata?.name !== 'string' || metadata.name === '') {
      throw new AzFuncSystemError('A function registration needs a name.');
    }
    if (typeof callback !== 'function') {
      throw new AzFuncSystemError(`Function "${metadata.name}" was registered without a handler.`);
    }
    const key = metadata.name.toLowerCase();
    if (names.has(key)) {
      throw new AzFuncSystemError(`A function with name "${metadata.name}" has already been registered.`);
    }
    const trigger = Object.values(metadata.bindings ?? {}).find((binding) => /trigger$/i.test(binding.type ?? ''));
    if (!trigger) throw new AzFuncSystemError(`Function "${metadata.name}" has no trigger binding.`);

    let remove: () => void;
    if (trigger.type?.toLowerCase() === 'httptrigger') {
      const registration = toHttpRegistration(metadata, trigger, callback);
      httpFunctions.push(registration);
      remove = () => removeItem(httpFunctions, registration);
    } else if (trigger.type?.toLowerCase() === 'timertrigger') {
      if (typeof trigger.schedule !== 'string') throw new AzFuncSystemError(`Timer function "${metadata.name}" has no schedule.`);
      const registration: TimerFunctionRegistration = Object.freeze({
        name: metadata.name,
        schedule: trigger.schedule,
        runOnStartup: trigger.runOnStartup === true,
        handler: callback,
        metadata,
      });
      timerFunctions.push(registration);
      remove = () => removeItem(timerFunctions, registration);
    } else {
      const registration = Object.freeze({ name: metadata.name, triggerType: String(trigger.type) });
      otherFunctions.push(registration);
      remove = () => removeItem(otherFunctions, registration);
    }
    names.add(key);
    return new Disposable(() => {
      assertDuringStartup('disposed');
      remove();
      names.delete(key);
    });
  };

  const registerHook = (hookName: string, callback: CoreHookCallback<never>): Disposable => {
    if (!isHookName(hookName)) throw new AzFuncRangeError(`Unrecognized hook "${hookName}"`);
    if (typeof callback !== 'function') throw new AzFuncSystemError(`The "${hookName}" hook needs a callback.`);
    const list = hooks[hookName] as CoreHookCallback<never>[];
    list.push(callback);
    return new Disposable(() => removeItem(list, callback));
  };

  const coreApi: Record<string, unknown> = {
    version: 'switchyard-local',
    registerFunction,
    registerHook,
    setProgrammingModel: (model: CoreProgrammingModel) => {
      programmingModel = model;
    },
    getProgrammingModel: () => programmingModel,
    log: (level: CoreLogLevel, category: CoreLogCategory, message: string) => registry.log(level, category, message),
    Disposable,
  };

  return { registry, coreApi };
}

/**
 * Makes `require('@azure/functions-core')` return the local core API, as the worker does, and returns the registry
 * it fills. Call it before `@azure/functions` registers anything (the library probes the module once and otherwise
 * stays in "test mode" for the life of the process). Idempotent.
 */
export function installFunctionsCore(): FunctionsCoreRegistry {
  const globals = globalThis as { [REGISTRY_KEY]?: FunctionsCoreRegistry };
  const installed = globals[REGISTRY_KEY];
  if (installed) return installed;

  const { registry, coreApi } = createRegistry();
  const originalRequire = Module.prototype.require;
  Module.prototype.require = function requireWithFunctionsCore(this: Module, ...args: [id: string]): unknown {
    return args[0] === CORE_MODULE_ID ? coreApi : Reflect.apply(originalRequire, this, args);
  } as typeof originalRequire;
  globals[REGISTRY_KEY] = registry;
  return registry;
}
