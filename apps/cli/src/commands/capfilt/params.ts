/** The CapFilt parameters `run` and `schedule set` share, as options. */
import type { Command } from 'commander';
import { intArg, numberArg } from '../../options.js';

export interface ParamOpts {
  synthetic?: number;
  threshold?: number;
  seed?: number;
}

export function addParamOptions(cmd: Command): Command {
  return cmd
    .option('--synthetic <k>', 'synthetic captions generated per image (API default 1)', intArg)
    .option('--threshold <p>', 'ITM probability a caption needs to be kept (API default 0.5)', numberArg)
    .option('--seed <n>', 'sampling seed (API default 0)', intArg);
}

/** Only the parameters given: the API fills in its defaults. */
export function paramsFrom(o: ParamOpts) {
  return {
    ...(o.synthetic !== undefined ? { syntheticPerImage: o.synthetic } : {}),
    ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
}
