// Words of the console and the registry pages, zh-CN first, and the
// locale's number and date formats. Amounts (decimal strings from the
// API) are never turned into floating point: they are shown with their
// digits as given, only grouped by thousands.

const zh = {
  'app.title': '山东省碳普惠登记系统',
  'app.console': '管理控制台',
  'app.registry': '公共登记簿',
  'lang.switch': 'English',
  'lang.name': '中文',
  'nav.dashboard': '总览',
  'nav.inbox': '待办',
  'nav.sources': '指标来源',
  'nav.applications': '指标申请',
  'nav.government': '待政府审批',
  'nav.certifications': '核证批次',
  'nav.corrections': '待复核更正',
  'nav.frozen': '冻结账户',
  'nav.holdings': '持有',
  'nav.trades': '交易',
  'nav.retire': '注销',
  'nav.retirements': '注销证书',
  'nav.assigned': '分配给我的批次',
  'nav.propose': '申报来源',
  'nav.registry': '公共登记簿',
  'nav.signout': '退出',
  'signin.title': '登录',
  'signin.intro': '开发环境：粘贴 make run 打印的某个角色的令牌。令牌只保存在本标签页的会话存储中，关闭标签页即清除。生产环境通过省统一身份认证（OIDC 授权码 + PKCE）登录，见 docs/console.md。',
  'signin.token': '访问令牌',
  'signin.submit': '登录',
  'signin.bad': '这不是一个有效的令牌。',
  'signin.as': '已登录：{who}',
  'role.citizen': '市民', 'role.operator': '运营方', 'role.verifier': '核证机构', 'role.enterprise': '企业',
  'role.city': '市级主管部门', 'role.province': '省级主管部门', 'role.auditor': '审计',
  'role.none': '控制台没有为角色“{role}”准备页面；请使用移动应用或 API。',
  'common.skip': '跳到正文',
  'common.loading': '加载中…',
  'common.empty': '暂无记录',
  'common.more': '下一页',
  'common.open': '查看',
  'common.back': '返回',
  'common.cancel': '取消',
  'common.confirm': '确认',
  'common.submit': '提交',
  'common.approve': '批准',
  'common.reject': '驳回',
  'common.reason': '理由',
  'common.yes': '是', 'common.no': '否',
  'common.details': '详情',
  'common.trail': '审计轨迹',
  'common.lineage': '来源追溯',
  'common.saved': '已保存。',
  'common.readonly': '审计角色只读：不显示任何操作。',
  'common.items': '{n} 项',
  'common.print': '打印',
  'common.actions': '可执行操作',
  'confirm.title': '请确认',
  'confirm.irreversible': '此操作不可撤销。确定继续吗？',
  'dash.reserves': '各市指标储备（吨）',
  'dash.flows': '指标流转（按月，吨）',
  'dash.points': '碳普惠积分（按日，克）',
  'dash.vintage': '核证减排量（按年份，吨）',
  'dash.inbox': '待办事项',
  'inbox.sources': '待认定的来源',
  'inbox.applications': '待决定的申请',
  'inbox.government': '待政府审批',
  'inbox.assign': '待分配核证机构',
  'inbox.issue': '待签发',
  'inbox.corrections': '待复核的更正（制单人不能复核自己的更正）',
  'inbox.frozen': '冻结的持有账户',
  'inbox.city_sources': '本市申报的来源',
  'inbox.city_review': '待本市审核的申请',
  'measure.credited': '发放', 'measure.claimed': '领取', 'measure.redeemed': '兑换', 'measure.lapsed': '过期失效',
  'measure.clawed_back': '追回', 'measure.donated': '捐赠', 'measure.expired': '到期',
  'flow.recognised': '认定', 'flow.stockpiled': '收储', 'flow.allocated': '分配', 'flow.consumed': '使用',
  'flow.recovered': '收回', 'flow.transferred_out': '调出', 'flow.transferred_in': '调入',
  'flow.corrected_up': '更正调增', 'flow.corrected_down': '更正调减', 'flow.project_moved': '项目迁移',
  'status.proposed': '待认定', 'status.recognised': '已认定', 'status.rejected': '已驳回', 'status.submitted': '已提交',
  'status.city_approved': '市级已审核', 'status.awaiting_government': '待政府审批', 'status.government_approved': '政府已批准',
  'status.approved': '已批准', 'status.applied': '已生效', 'status.pending': '待复核', 'status.draft': '草稿',
  'status.notice': '公示中', 'status.verified': '已核证', 'status.issued': '已签发', 'status.withdrawn': '已撤回',
  'status.offered': '待接受', 'status.expired': '已过期', 'status.settled': '已成交', 'status.cancelled': '已取消',
  'status.active': '正常', 'status.frozen': '冻结', 'status.closed': '已关闭', 'status.allocated': '已分配',
  'status.consumed': '已使用',
  'act.approve_source': '认定来源', 'act.reject_source': '驳回来源', 'act.stockpile': '收储入库',
  'act.decide': '决定申请', 'act.review': '市级审核', 'act.government': '记录政府审批',
  'act.approve_correction': '复核更正', 'act.assign': '分配核证机构', 'act.issue': '签发核证减排量',
  'act.verify': '提交核证结论', 'act.unfreeze': '解冻', 'act.freeze': '冻结', 'act.accept': '接受交易',
  'act.cancel_trade': '取消交易', 'act.retire': '注销', 'act.propose_source': '申报指标来源',
  'field.id': '编号', 'field.status': '状态', 'field.state': '状态', 'field.city': '城市', 'field.enterprise': '企业',
  'field.project': '项目', 'field.sector': '行业', 'field.route': '途径', 'field.tonnes': '吨数', 'field.formed_on': '形成日期',
  'field.evidence_ref': '证明文件', 'field.verification_ref': '核查文件', 'field.work': '工作内容', 'field.index_kind': '指标类型',
  'field.proposed_by': '申报人', 'field.proposed_at': '申报时间', 'field.decided_by': '决定人', 'field.decided_at': '决定时间',
  'field.emissions': '排放量', 'field.coefficient': '系数', 'field.required': '需求量', 'field.own_sources': '自有来源',
  'field.gap': '缺口', 'field.requested': '申请量', 'field.escalated': '需政府审批', 'field.threshold': '审批门槛',
  'field.created_by': '创建人', 'field.created_at': '创建时间', 'field.updated_at': '更新时间', 'field.reserve': '储备',
  'field.name': '名称', 'field.in_reserve': '储备中', 'field.allocated': '已分配', 'field.consumed': '已使用',
  'field.stockpiled': '已收储', 'field.delta': '调整量', 'field.holder': '持有人', 'field.reason': '理由',
  'field.source_id': '来源', 'field.operator': '运营方', 'field.methodology': '方法学', 'field.period': '期间',
  'field.vintage': '年份', 'field.captured_grams': '归集减排量（克）', 'field.approved_grams': '核证通过（克）',
  'field.rejected_grams': '核减（克）', 'field.report_ref': '核证报告', 'field.verifier': '核证机构', 'field.serial': '序列号',
  'field.issued_units': '签发数量', 'field.units': '数量', 'field.seller': '卖方', 'field.buyer': '买方',
  'field.price_per_unit': '单价（元）', 'field.amount': '金额（元）', 'field.expires_at': '有效期至', 'field.serials': '序列号',
  'field.beneficiary': '受益方', 'field.purpose': '用途', 'field.note': '备注', 'field.retired_at': '注销时间',
  'field.action': '动作', 'field.actor': '操作人', 'field.at': '时间', 'field.seq': '序号', 'field.account': '账户',
  'field.balance': '余额', 'field.first_unit': '起始编号', 'field.last_unit': '终止编号', 'field.block': '序列号段',
  'field.approve': '结论', 'field.document_ref': '批复文件', 'field.draws': '储备分配', 'field.paid': '有偿',
  'field.notice_ends_at': '公示截止', 'field.issued': '已签发', 'field.held': '持有', 'field.reserved': '交易冻结',
  'field.retired': '已注销', 'field.cancelled': '已作废', 'field.surrendered': '已履约抵销', 'field.transaction_id': '交易号',
  'field.owner': '所有者', 'field.asset': '资产', 'field.type': '类型', 'field.lookup': '证书编号或序列号',
  'field.chain_seq': '日志序号', 'field.chain_hash': '日志哈希', 'field.kid': '签名密钥', 'field.signed_at': '签署时间',
  'field.measure': '指标', 'field.points': '积分', 'field.records': '记录数',
  'purpose.voluntary_neutrality': '自愿碳中和', 'purpose.event_neutrality': '活动碳中和',
  'purpose.public_institution': '公共机构', 'purpose.other': '其他',
  'route.closure': '关停', 'route.production_switch': '转产', 'route.backward_elimination': '淘汰落后',
  'route.excess_capacity_cut': '压减过剩产能', 'route.relocation': '搬迁', 'route.nuclear_replacement': '核电替代',
  'route.key_reduction_work': '重点减排工程', 'route.other': '其他',
  'city.province': '省级', 'city.3701': '济南', 'city.3702': '青岛', 'city.3703': '淄博', 'city.3704': '枣庄',
  'city.3705': '东营', 'city.3706': '烟台', 'city.3707': '潍坊', 'city.3708': '济宁', 'city.3709': '泰安',
  'city.3710': '威海', 'city.3711': '日照', 'city.3713': '临沂', 'city.3714': '德州', 'city.3715': '聊城',
  'city.3716': '滨州', 'city.3717': '菏泽',
  'action.allocation.consumed': '分配已使用', 'action.allocation.recovered': '分配已收回', 'action.application.approved': '批准并分配',
  'action.application.city_approved': '市级审核通过', 'action.application.city_rejected': '市级审核驳回', 'action.application.escalated': '报请政府审批',
  'action.application.government_approved': '政府批准', 'action.application.government_rejected': '政府不批准', 'action.application.rejected': '驳回申请',
  'action.application.submitted': '提交申请', 'action.correction.applied': '更正生效', 'action.correction.proposed': '提出更正',
  'action.correction.rejected': '更正驳回', 'action.project.moved': '项目迁移', 'action.source.corrected': '来源更正', 'action.source.proposed': '申报来源',
  'action.source.recognised': '认定来源', 'action.source.rejected': '驳回来源', 'action.source.stockpiled': '收储入库',
  'field.flow': '流向', 'field.movements': '笔数', 'field.coefficient_version': '系数版本', 'field.own_sources_ref': '自有来源凭证',
  'field.threshold_version': '门槛版本', 'field.application_id': '申请编号', 'field.amount_cny': '金额（元）', 'field.refunded_cny': '退款（元）',
  'field.source_enterprise': '来源企业', 'field.source_city': '来源城市', 'field.project_city': '项目城市', 'field.tranche_id': '批次',
  'field.pool_account': '归集账户', 'field.policy_id': '政策版本', 'field.notice_days': '公示天数', 'field.notice_starts_at': '公示开始',
  'field.submitted_at': '提交时间', 'field.assigned_at': '分配时间', 'field.verified_at': '核证时间', 'field.approval_transaction_id': '核证交易号',
  'field.capture_transaction_id': '归集交易号', 'field.issue_transaction_id': '签发交易号', 'field.remainder_grams': '余量（克）',
  'field.requested_by': '申请人', 'field.pending_transaction_id': '冻结交易号', 'field.resolution_transaction_id': '结算交易号',
  'field.payment_transaction_id': '付款交易号', 'field.status_as_of': '状态截至', 'field.offered_serials': '报价序列号', 'field.available': '可用',
  'field.programme': '项目体系', 'field.batch_id': '核证批次', 'field.unstockpiled': '未收储', 'field.corrected': '更正量',
  'field.reserves': '储备分配', 'field.movements_total': '笔数', 'field.summary': '汇总', 'field.blocks': '序列号段', 'field.totals': '合计',
  'field.status_seq': '状态序号', 'field.money_account': '资金账户', 'field.compliance_year': '履约年度', 'field.issuer': '发行账户',
  'field.pending': '冻结中', 'field.metadata': '附加信息',
  'reg.lookup': '查验注销证书',
  'reg.lookup.intro': '输入证书编号或任一序列号，即可核对一笔注销是否真实存在。',
  'reg.lookup.submit': '查询',
  'reg.notfound': '没有找到这张证书。',
  'reg.certificate': '注销证书',
  'reg.certificate.body': '兹证明 {holder} 已为 {beneficiary} 注销 {tonnes} 吨山东省碳普惠核证减排量（{vintage} 年度），用途：{purpose}。',
  'reg.stats': '登记簿统计',
  'reg.notice': '公示中的核证批次',
  'reg.checkpoint': '最新签名日志检查点',
  'reg.checkpoint.none': '尚无检查点。',
  'reg.recent': '最近的注销',
  'err.unknown': '请求失败（{status}）。',
  'err.network': '无法连接服务器。提交内容已保留，可用同一幂等键重试。',
};

const en = {
  'app.title': 'Shandong Carbon-Inclusion Registry',
  'app.console': 'Console',
  'app.registry': 'Public registry',
  'lang.switch': '中文',
  'lang.name': 'English',
  'nav.dashboard': 'Dashboard',
  'nav.inbox': 'Inbox',
  'nav.sources': 'Index sources',
  'nav.applications': 'Applications',
  'nav.government': 'Government approvals',
  'nav.certifications': 'Certifications',
  'nav.corrections': 'Corrections to check',
  'nav.frozen': 'Frozen holdings',
  'nav.holdings': 'Holdings',
  'nav.trades': 'Trades',
  'nav.retire': 'Retire',
  'nav.retirements': 'Certificates',
  'nav.assigned': 'Batches assigned to me',
  'nav.propose': 'Propose a source',
  'nav.registry': 'Public registry',
  'nav.signout': 'Sign out',
  'signin.title': 'Sign in',
  'signin.intro': 'Development: paste one of the per-role tokens make run prints. The token is kept in this tab\'s session storage only and is gone when the tab closes. In production you sign in through the province\'s identity provider (OIDC authorization code with PKCE), see docs/console.md.',
  'signin.token': 'Access token',
  'signin.submit': 'Sign in',
  'signin.bad': 'That is not a valid token.',
  'signin.as': 'Signed in: {who}',
  'role.citizen': 'Citizen', 'role.operator': 'Operator', 'role.verifier': 'Verifier', 'role.enterprise': 'Enterprise',
  'role.city': 'City bureau', 'role.province': 'Province', 'role.auditor': 'Auditor',
  'role.none': 'The console has no pages for role “{role}”; use the mobile app or the API.',
  'common.skip': 'Skip to content',
  'common.loading': 'Loading…',
  'common.empty': 'Nothing here',
  'common.more': 'Next page',
  'common.open': 'Open',
  'common.back': 'Back',
  'common.cancel': 'Cancel',
  'common.confirm': 'Confirm',
  'common.submit': 'Submit',
  'common.approve': 'Approve',
  'common.reject': 'Reject',
  'common.reason': 'Reason',
  'common.yes': 'Yes', 'common.no': 'No',
  'common.details': 'Details',
  'common.trail': 'Trail',
  'common.lineage': 'Lineage',
  'common.saved': 'Saved.',
  'common.readonly': 'Auditors read only: no actions are shown.',
  'common.items': '{n} items',
  'common.print': 'Print',
  'common.actions': 'Actions',
  'confirm.title': 'Please confirm',
  'confirm.irreversible': 'This cannot be undone. Go ahead?',
  'dash.reserves': 'Index reserves by city (t)',
  'dash.flows': 'Index flows by month (t)',
  'dash.points': 'Points per day (g)',
  'dash.vintage': 'Certified units by vintage (t)',
  'dash.inbox': 'Inbox',
  'inbox.sources': 'Sources to recognise',
  'inbox.applications': 'Applications to decide',
  'inbox.government': 'Awaiting the government',
  'inbox.assign': 'Certifications to assign',
  'inbox.issue': 'Certifications to issue',
  'inbox.corrections': 'Corrections awaiting a second person (the maker cannot approve its own)',
  'inbox.frozen': 'Frozen holdings',
  'inbox.city_sources': 'Sources of this city',
  'inbox.city_review': 'Applications for this city to review',
  'measure.credited': 'Credited', 'measure.claimed': 'Claimed', 'measure.redeemed': 'Redeemed', 'measure.lapsed': 'Lapsed',
  'measure.clawed_back': 'Clawed back', 'measure.donated': 'Donated', 'measure.expired': 'Expired',
  'flow.recognised': 'Recognised', 'flow.stockpiled': 'Stockpiled', 'flow.allocated': 'Allocated', 'flow.consumed': 'Consumed',
  'flow.recovered': 'Recovered', 'flow.transferred_out': 'Transferred out', 'flow.transferred_in': 'Transferred in',
  'flow.corrected_up': 'Corrected up', 'flow.corrected_down': 'Corrected down', 'flow.project_moved': 'Project moved',
  'status.proposed': 'Proposed', 'status.recognised': 'Recognised', 'status.rejected': 'Rejected', 'status.submitted': 'Submitted',
  'status.city_approved': 'City approved', 'status.awaiting_government': 'Awaiting government', 'status.government_approved': 'Government approved',
  'status.approved': 'Approved', 'status.applied': 'Applied', 'status.pending': 'Awaiting my check', 'status.draft': 'Draft',
  'status.notice': 'Under public notice', 'status.verified': 'Verified', 'status.issued': 'Issued', 'status.withdrawn': 'Withdrawn',
  'status.offered': 'Offered', 'status.expired': 'Expired', 'status.settled': 'Settled', 'status.cancelled': 'Cancelled',
  'status.active': 'Active', 'status.frozen': 'Frozen', 'status.closed': 'Closed', 'status.allocated': 'Allocated',
  'status.consumed': 'Consumed',
  'act.approve_source': 'Recognise source', 'act.reject_source': 'Reject source', 'act.stockpile': 'Stockpile',
  'act.decide': 'Decide application', 'act.review': 'City review', 'act.government': 'Record government decision',
  'act.approve_correction': 'Check correction', 'act.assign': 'Assign verifier', 'act.issue': 'Issue units',
  'act.verify': 'Submit verification', 'act.unfreeze': 'Unfreeze', 'act.freeze': 'Freeze', 'act.accept': 'Accept trade',
  'act.cancel_trade': 'Cancel trade', 'act.retire': 'Retire', 'act.propose_source': 'Propose an index source',
  'field.id': 'ID', 'field.status': 'Status', 'field.state': 'State', 'field.city': 'City', 'field.enterprise': 'Enterprise',
  'field.project': 'Project', 'field.sector': 'Sector', 'field.route': 'Route', 'field.tonnes': 'Tonnes', 'field.formed_on': 'Formed on',
  'field.evidence_ref': 'Evidence', 'field.verification_ref': 'Verification', 'field.work': 'Work', 'field.index_kind': 'Index kind',
  'field.proposed_by': 'Proposed by', 'field.proposed_at': 'Proposed at', 'field.decided_by': 'Decided by', 'field.decided_at': 'Decided at',
  'field.emissions': 'Emissions', 'field.coefficient': 'Coefficient', 'field.required': 'Required', 'field.own_sources': 'Own sources',
  'field.gap': 'Gap', 'field.requested': 'Requested', 'field.escalated': 'Needs government', 'field.threshold': 'Threshold',
  'field.created_by': 'Created by', 'field.created_at': 'Created at', 'field.updated_at': 'Updated at', 'field.reserve': 'Reserve',
  'field.name': 'Name', 'field.in_reserve': 'In reserve', 'field.allocated': 'Allocated', 'field.consumed': 'Consumed',
  'field.stockpiled': 'Stockpiled', 'field.delta': 'Delta', 'field.holder': 'Holder', 'field.reason': 'Reason',
  'field.source_id': 'Source', 'field.operator': 'Operator', 'field.methodology': 'Methodology', 'field.period': 'Period',
  'field.vintage': 'Vintage', 'field.captured_grams': 'Captured (g)', 'field.approved_grams': 'Approved (g)',
  'field.rejected_grams': 'Rejected (g)', 'field.report_ref': 'Report', 'field.verifier': 'Verifier', 'field.serial': 'Serial',
  'field.issued_units': 'Issued units', 'field.units': 'Units', 'field.seller': 'Seller', 'field.buyer': 'Buyer',
  'field.price_per_unit': 'Price per unit (CNY)', 'field.amount': 'Amount (CNY)', 'field.expires_at': 'Expires at', 'field.serials': 'Serials',
  'field.beneficiary': 'Beneficiary', 'field.purpose': 'Purpose', 'field.note': 'Note', 'field.retired_at': 'Retired at',
  'field.action': 'Action', 'field.actor': 'Actor', 'field.at': 'At', 'field.seq': 'Seq', 'field.account': 'Account',
  'field.balance': 'Balance', 'field.first_unit': 'First unit', 'field.last_unit': 'Last unit', 'field.block': 'Serial block',
  'field.approve': 'Decision', 'field.document_ref': 'Decision document', 'field.draws': 'Draw from reserves', 'field.paid': 'Paid',
  'field.notice_ends_at': 'Notice ends', 'field.issued': 'Issued', 'field.held': 'Held', 'field.reserved': 'Reserved',
  'field.retired': 'Retired', 'field.cancelled': 'Cancelled', 'field.surrendered': 'Surrendered', 'field.transaction_id': 'Transaction',
  'field.owner': 'Owner', 'field.asset': 'Asset', 'field.type': 'Type', 'field.lookup': 'Certificate id or serial number',
  'field.chain_seq': 'Journal seq', 'field.chain_hash': 'Journal hash', 'field.kid': 'Signing key', 'field.signed_at': 'Signed at',
  'field.measure': 'Measure', 'field.points': 'Points', 'field.records': 'Records',
  'purpose.voluntary_neutrality': 'Voluntary neutrality', 'purpose.event_neutrality': 'Event neutrality',
  'purpose.public_institution': 'Public institution', 'purpose.other': 'Other',
  'route.closure': 'Closure', 'route.production_switch': 'Production switch', 'route.backward_elimination': 'Backward capacity eliminated',
  'route.excess_capacity_cut': 'Excess capacity cut', 'route.relocation': 'Relocation', 'route.nuclear_replacement': 'Nuclear replacement',
  'route.key_reduction_work': 'Key reduction work', 'route.other': 'Other',
  'city.province': 'Province', 'city.3701': 'Jinan', 'city.3702': 'Qingdao', 'city.3703': 'Zibo', 'city.3704': 'Zaozhuang',
  'city.3705': 'Dongying', 'city.3706': 'Yantai', 'city.3707': 'Weifang', 'city.3708': 'Jining', 'city.3709': "Tai'an",
  'city.3710': 'Weihai', 'city.3711': 'Rizhao', 'city.3713': 'Linyi', 'city.3714': 'Dezhou', 'city.3715': 'Liaocheng',
  'city.3716': 'Binzhou', 'city.3717': 'Heze',
  'action.allocation.consumed': 'Allocation consumed', 'action.allocation.recovered': 'Allocation recovered', 'action.application.approved': 'Approved and allocated',
  'action.application.city_approved': 'City approved', 'action.application.city_rejected': 'City rejected', 'action.application.escalated': 'Escalated to the government',
  'action.application.government_approved': 'Government approved', 'action.application.government_rejected': 'Government rejected', 'action.application.rejected': 'Rejected',
  'action.application.submitted': 'Submitted', 'action.correction.applied': 'Correction applied', 'action.correction.proposed': 'Correction proposed',
  'action.correction.rejected': 'Correction rejected', 'action.project.moved': 'Project moved', 'action.source.corrected': 'Source corrected', 'action.source.proposed': 'Source proposed',
  'action.source.recognised': 'Source recognised', 'action.source.rejected': 'Source rejected', 'action.source.stockpiled': 'Stockpiled',
  'field.flow': 'Flow', 'field.movements': 'Movements', 'field.coefficient_version': 'Coefficient version', 'field.own_sources_ref': 'Own sources evidence',
  'field.threshold_version': 'Threshold version', 'field.application_id': 'Application', 'field.amount_cny': 'Amount (CNY)', 'field.refunded_cny': 'Refunded (CNY)',
  'field.source_enterprise': 'Source enterprise', 'field.source_city': 'Source city', 'field.project_city': 'Project city', 'field.tranche_id': 'Tranche',
  'field.pool_account': 'Pool account', 'field.policy_id': 'Policy', 'field.notice_days': 'Notice days', 'field.notice_starts_at': 'Notice starts',
  'field.submitted_at': 'Submitted at', 'field.assigned_at': 'Assigned at', 'field.verified_at': 'Verified at', 'field.approval_transaction_id': 'Approval transaction',
  'field.capture_transaction_id': 'Capture transaction', 'field.issue_transaction_id': 'Issue transaction', 'field.remainder_grams': 'Remainder (g)',
  'field.requested_by': 'Requested by', 'field.pending_transaction_id': 'Hold transaction', 'field.resolution_transaction_id': 'Settlement transaction',
  'field.payment_transaction_id': 'Payment transaction', 'field.status_as_of': 'Status as of', 'field.offered_serials': 'Offered serials', 'field.available': 'Available',
  'field.programme': 'Programme', 'field.batch_id': 'Certification batch', 'field.unstockpiled': 'Not stockpiled', 'field.corrected': 'Corrected',
  'field.reserves': 'Reserves drawn', 'field.movements_total': 'Movements', 'field.summary': 'Summary', 'field.blocks': 'Serial blocks', 'field.totals': 'Totals',
  'field.status_seq': 'Status seq', 'field.money_account': 'Money account', 'field.compliance_year': 'Compliance year', 'field.issuer': 'Issuer account',
  'field.pending': 'On hold', 'field.metadata': 'Metadata',
  'reg.lookup': 'Verify a retirement certificate',
  'reg.lookup.intro': 'Enter a certificate id or any serial number to check that a retirement exists.',
  'reg.lookup.submit': 'Look up',
  'reg.notfound': 'No such certificate.',
  'reg.certificate': 'Retirement certificate',
  'reg.certificate.body': 'This certifies that {holder} retired {tonnes} t of Shandong carbon-inclusion certified reductions (vintage {vintage}) on behalf of {beneficiary}, for: {purpose}.',
  'reg.stats': 'Registry statistics',
  'reg.notice': 'Certification batches under public notice',
  'reg.checkpoint': 'Latest signed journal checkpoint',
  'reg.checkpoint.none': 'No checkpoint yet.',
  'reg.recent': 'Recent retirements',
  'err.unknown': 'The request failed ({status}).',
  'err.network': 'The server cannot be reached. Your entry is kept; submitting again reuses its idempotency key.',
};

// Problem codes (Problem.code in /openapi.json) in plain words; the
// API's own detail is shown beside them.
const problems = {
  'zh-CN': {
    invalid_request: '填写的内容有误', idempotency_key_required: '缺少幂等键', idempotency_conflict: '同一幂等键已用于不同的内容',
    not_found: '没有找到', forbidden: '您的角色无权执行此操作', commit_outcome_unknown: '提交结果未知，请用同一幂等键重试',
    unavailable: '数据库暂时不可用，请稍后重试', internal: '服务器内部错误', unauthorized: '登录已失效，请重新登录',
    rate_limited: '请求过于频繁，请稍后再试', body_too_large: '提交内容过大', unsupported_media_type: '不支持的内容类型',
    method_not_allowed: '不支持此操作', invalid_amount: '数量格式不正确', invalid_account: '账户不正确', limit_exceeded: '超出限制',
    unbalanced_transaction: '借贷不平衡', insufficient_balance: '余额不足', account_not_found: '账户不存在', account_exists: '账户已存在',
    account_frozen: '账户已冻结', account_closed: '账户已关闭', conflict: '与其他操作冲突，请重试', pending_already_resolved: '待定交易已处理',
    pending_expired: '待定交易已过期', not_pending: '不是待定交易', already_reversed: '已冲正', managed_asset: '该资产只能由业务流程变动',
    duplicate: '重复记录', cap_reached: '已达每日上限', unknown_citizen: '市民不存在', not_entrusted: '未获授权',
    kind_not_allowed: '不允许的行为类型', no_methodology: '没有适用的方法学', time_out_of_window: '时间不在允许范围内',
    quantity_out_of_range: '数量超出范围', below_one_gram: '不足一克', operator_inactive: '运营方已停用', nothing_to_claim: '没有可领取的积分',
    claim_window_closed: '领取期已过', out_of_stock: '已兑完', reward_withdrawn: '奖励已下架', pool_not_approved: '捐赠池未获批准',
    points_not_transferable: '积分不可转让', already_clawed_back: '已追回', invalid_state: '当前状态不允许此操作',
    notice_period_running: '公示期尚未结束', certification_open: '该期间已有未完成的核证批次', pool_below_one_tonne: '归集量不足一吨',
    nothing_to_issue: '没有可签发的数量', already_issued: '已签发', verifier_not_independent: '核证机构与申请方存在关联',
    verifier_not_accredited: '核证机构未获认可', verification_split_mismatch: '核证通过与核减之和不等于归集量',
    units_unavailable: '可用数量不足', offset_cap_exceeded: '超过抵销比例上限', obligation_mismatch: '与履约义务不符',
    trade_not_open: '交易已不可操作', holder_already_in_state: '账户已处于该状态', policy_in_past: '生效时间不能早于现在',
    obligation_not_recorded: '尚未登记履约义务', obligation_below_surrendered: '义务量低于已抵销量', cursor_expired: '翻页位置已过期',
    webhook_url_refused: '回调地址被拒绝', outside_shandong: '不在山东省范围内', formed_before_cutoff: '形成时间早于截止日期',
    gap_exceeded: '超过缺口', insufficient_reserve: '储备不足', maker_checker: '制单人不能复核自己的更正',
    duplicate_source: '来源重复', config_missing: '缺少配置', project_conflict: '项目冲突',
  },
  en: {
    invalid_request: 'Something in the form is not right', idempotency_key_required: 'An idempotency key is required',
    idempotency_conflict: 'That idempotency key was used for different content', not_found: 'Not found',
    forbidden: 'Your role may not do this', commit_outcome_unknown: 'The outcome is unknown; submit again with the same key',
    unavailable: 'The database is unavailable; try again shortly', internal: 'Internal server error', unauthorized: 'Your sign-in has expired; sign in again',
    rate_limited: 'Too many requests; slow down', body_too_large: 'The submission is too large', unsupported_media_type: 'Unsupported content type',
    method_not_allowed: 'Not allowed', insufficient_balance: 'Insufficient balance', account_frozen: 'The account is frozen',
    conflict: 'Conflicted with another change; try again', invalid_state: 'Not allowed in the current state',
    maker_checker: 'The maker cannot approve its own correction', units_unavailable: 'Not enough units available',
    trade_not_open: 'The trade is no longer open', insufficient_reserve: 'Insufficient reserve', gap_exceeded: 'More than the gap',
    verifier_not_independent: 'The verifier is not independent of the requester', verifier_not_accredited: 'The verifier is not accredited',
    verification_split_mismatch: 'Approved and rejected grams must add up to the captured grams',
  },
};

const dicts = { 'zh-CN': zh, en };
const langKey = 'cl.lang';

export function lang() {
  const l = localStorage.getItem(langKey);
  return l === 'en' ? 'en' : 'zh-CN';
}

export function setLang(l) {
  localStorage.setItem(langKey, l === 'en' ? 'en' : 'zh-CN');
}

// t looks a key up in the page's language (English, then the key itself,
// when missing) and fills {name} placeholders.
export function t(key, params = {}) {
  const s = dicts[lang()][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? `{${k}}`));
}

// tOr is t for labels built from API values (a status, a route): the
// value itself when no word is known.
export function tOr(prefix, value) {
  const k = `${prefix}.${value}`;
  const s = dicts[lang()][k] ?? en[k];
  return s ?? String(value);
}

export function problemText(code) {
  return problems[lang()][code] ?? problems.en[code] ?? '';
}

// amount groups a decimal string's integer digits by thousands, keeping
// every digit and the sign exactly as given.
export function amount(s) {
  if (typeof s !== 'string' || !/^-?\d+(\.\d+)?$/.test(s)) return s == null ? '' : String(s);
  const neg = s.startsWith('-');
  const [int, frac] = (neg ? s.slice(1) : s).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (neg ? '-' : '') + grouped + (frac !== undefined ? '.' + frac : '');
}

export function count(n) {
  return new Intl.NumberFormat(lang()).format(n);
}

// when formats an RFC 3339 instant in China Standard Time, the
// programme's calendar, in the page's locale.
export function when(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Shanghai' }).format(d);
}

export function day(s) {
  if (!s) return '';
  const d = new Date(s.length === 10 ? s + 'T00:00:00+08:00' : s);
  if (Number.isNaN(d.getTime())) return s;
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeZone: 'Asia/Shanghai' }).format(d);
}

// applyLang sets the document's language and translates the static
// elements that carry data-i18n.
export function applyLang() {
  document.documentElement.lang = lang();
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}
