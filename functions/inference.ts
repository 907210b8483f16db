import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('listModels', { route: 'v1/models', methods: ['GET'], authLevel: 'anonymous', handler: gateway.listModels });
app.http('retrieveModel', { route: 'v1/models/{model}', methods: ['GET'], authLevel: 'anonymous', handler: gateway.retrieveModel });
app.http('chatCompletions', { route: 'v1/chat/completions', methods: ['POST'], authLevel: 'anonymous', handler: gateway.chatCompletions });
app.http('embeddings', { route: 'v1/embeddings', methods: ['POST'], authLevel: 'anonymous', handler: gateway.embeddings });
app.http('azureChatCompletions', {
  route: 'openai/deployments/{alias}/chat/completions',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.azureChatCompletions,
});
app.http('azureEmbeddings', {
  route: 'openai/deployments/{alias}/embeddings',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.azureEmbeddings,
});
app.http('azureListModels', { route: 'openai/models', methods: ['GET'], authLevel: 'anonymous', handler: gateway.azureListModels });
app.http('azureRetrieveModel', {
  route: 'openai/models/{model}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: gateway.azureRetrieveModel,
});
app.http('azureV1ChatCompletions', {
  route: 'openai/v1/chat/completions',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.v1ChatCompletions,
});
app.http('azureV1Embeddings', { route: 'openai/v1/embeddings', methods: ['POST'], authLevel: 'anonymous', handler: gateway.v1Embeddings });
app.http('azureV1ListModels', { route: 'openai/v1/models', methods: ['GET'], authLevel: 'anonymous', handler: gateway.v1ListModels });
app.http('azureV1RetrieveModel', {
  route: 'openai/v1/models/{model}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: gateway.v1RetrieveModel,
});
