import { VqaItemSchema, VqaOptionsSchema } from '@blip-jobs/shared';
import { limitedProcedure, router } from '../trpc.js';
import { ImageInput, submit, submitInput } from './submit.js';

/** Items `{ image, question }`; options: mode generate, or rank with candidates (and k). */
const VqaSubmitInput = submitInput(VqaItemSchema.extend({ image: ImageInput }), VqaOptionsSchema.prefault({}));

export const vqaRouter = router({
  submit: limitedProcedure.input(VqaSubmitInput).mutation(({ ctx, input }) => submit(ctx, { task: 'vqa', ...input })),
});
