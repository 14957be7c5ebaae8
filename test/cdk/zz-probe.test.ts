import { it } from 'vitest';
import { synthesizeDrill } from './drill-stack.ts';
it('probe', () => {
  const s = synthesizeDrill();
  console.log(s.nagFindings);
  const sm = s.template.findResources('AWS::StepFunctions::StateMachine');
  console.log(JSON.stringify(sm, null, 1).slice(0, 6000));
  s.cleanup();
});
