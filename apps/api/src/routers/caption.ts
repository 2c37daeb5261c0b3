import { CaptionItemSchema, CaptionOptionsSchema } from '@blip-jobs/shared';
import { limitedProcedure, router } from '../trpc.js';
import { ImageInput, submit, submitInput } from './submit.js';

/** Items `{ image }`; options: mode (beam, greedy, nucleus), lengths, numCaptions, prompt, seed. */
const CaptionSubmitInput = submitInput(CaptionItemSchema.extend({ image: ImageInput }), CaptionOptionsSchema.prefault({}));

export const captionRouter = router({
  submit: limitedProcedure.input(CaptionSubmitInput).mutation(({ ctx, input }) => submit(ctx, { task: 'caption', ...input })),
});
