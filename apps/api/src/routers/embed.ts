import { EmbedItemSchema } from '@blip-jobs/shared';
import { z } from 'zod';
import { limitedProcedure, router } from '../trpc.js';
import { ImageInput, submit, submitInput } from './submit.js';

const [, TextItem] = EmbedItemSchema.options;

/** Items `{ image }` or `{ text }`: each gets its normalised 256-d ITC embedding. */
const EmbedSubmitInput = submitInput(
  z.union([z.object({ image: ImageInput }).strict(), TextItem], { error: 'an embed item is { image } or { text }, exactly one of the two' }),
  // Embeddings have no options.
  z.never().optional(),
);

export const embedRouter = router({
  submit: limitedProcedure.input(EmbedSubmitInput).mutation(({ ctx, input }) => submit(ctx, { task: 'embed', ...input })),
});
