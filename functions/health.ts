import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: gateway.liveness });
app.http('healthReady', { route: 'health/ready', methods: ['GET'], authLevel: 'anonymous', handler: gateway.readiness });
