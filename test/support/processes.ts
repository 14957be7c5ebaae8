// Child processes of the runners, shared with the demo.
export * from '../../local/processes.ts';
