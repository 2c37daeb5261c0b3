/** `blip capfilt …`: CapFilt runs over corpora in storage, and their refresh schedules. */
import type { Command } from 'commander';
import { registerCapfiltList } from './list.js';
import { registerCapfiltRun } from './run.js';
import { registerCapfiltSchedule } from './schedule.js';
import { registerCapfiltStatus } from './status.js';

export function registerCapfilt(program: Command): void {
  const capfilt = program.command('capfilt').description('bootstrap captions of an image-text corpus in storage (CapFilt)');
  registerCapfiltRun(capfilt);
  registerCapfiltStatus(capfilt);
  registerCapfiltList(capfilt);
  registerCapfiltSchedule(capfilt);
}
