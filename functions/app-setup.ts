import { app } from '@azure/functions';
import { closeServices } from '../shared/composition/services.js';

// Response bodies are streams (SSE); the host must not buffer them.
app.setup({ enableHttpStream: true });

// On scale-in or restart, write the buffered usage ledger before the process goes.
app.hook.appTerminate(() => closeServices());
