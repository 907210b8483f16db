import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

// Five minutes past each hour: the hour just closed is allocated, and late usage re-opens earlier ones.
app.timer('allocateManagedCompute', { schedule: '0 5 * * * *', handler: gateway.allocateManagedCompute });
// Seventeen minutes past each hour: proof that every configured safety layer still blocks and passes what it must.
app.timer('safetySelfTest', { schedule: '0 17 * * * *', handler: gateway.safetySelfTest });
